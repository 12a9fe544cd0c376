import { type FormEvent, useState } from "react";
import { useToken } from "../token.ts";

/**
 * Where the user enters a token: FORGE_API_TOKEN to read a server that needs one, or
 * FORGE_ADMIN_TOKEN to also cancel, signal and tick. Kept for this tab's session only.
 */
export function TokenForm() {
  const { token, setToken } = useToken();
  const [draft, setDraft] = useState("");
  if (token) {
    return (
      <div className="token">
        <span className="muted">token set</span>
        <button type="button" onClick={() => setToken(null)}>
          Forget token
        </button>
      </div>
    );
  }
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (draft.trim()) setToken(draft.trim());
    setDraft("");
  };
  return (
    <form className="token" onSubmit={submit}>
      <label>
        Token{" "}
        <input
          type="password"
          name="token"
          autoComplete="off"
          placeholder="admin or API token"
          value={draft}
          onChange={(e) => setDraft(e.target.value)}
        />
      </label>
      <button type="submit">Use token</button>
    </form>
  );
}
