import { createContext, useCallback, useContext, useState } from "react";

/**
 * The token the user entered (the API token or the admin token), kept for this browser tab's
 * session only: sessionStorage, never localStorage or a cookie.
 */
const KEY = "forge.token";

export interface TokenState {
  token: string | null;
  setToken(token: string | null): void;
}

export function useTokenState(): TokenState {
  const [token, set] = useState<string | null>(() => sessionStorage.getItem(KEY));
  const setToken = useCallback((next: string | null) => {
    if (next) sessionStorage.setItem(KEY, next);
    else sessionStorage.removeItem(KEY);
    set(next);
  }, []);
  return { token, setToken };
}

export const TokenContext = createContext<TokenState>({ token: null, setToken: () => {} });

export const useToken = () => useContext(TokenContext);
