import { createHash, timingSafeEqual } from "node:crypto";
import type { Config } from "../config.ts";
import { Forbidden } from "../errors.ts";

/** What the presented token allows. */
export interface Access {
  /** May run any non-admin operation. */
  api: boolean;
  /** May run admin operations (tickOnce, cancelRun, workerStatus). */
  admin: boolean;
}

/** The token in `Bearer <token>`, or null (also for a header, or connection param, that is not a string). */
export function bearerToken(header: unknown): string | null {
  if (typeof header !== "string") return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? (match[1] as string) : null;
}

/**
 * Compares in time independent of where the strings differ (and of their lengths: both
 * sides are hashed to 32 bytes first, which timingSafeEqual requires anyway).
 */
function sameSecret(presented: string, expected: string): boolean {
  const a = createHash("sha256").update(presented).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

/**
 * Admin operations need FORGE_ADMIN_TOKEN and are refused for everyone when it is unset.
 * FORGE_API_TOKEN, when set, is needed (or the admin token) for everything else.
 */
export function accessFor(config: Pick<Config, "adminToken" | "apiToken">, token: string | null): Access {
  const admin = token !== null && config.adminToken !== null && sameSecret(token, config.adminToken);
  const api = admin || config.apiToken === null || (token !== null && sameSecret(token, config.apiToken));
  return { api, admin };
}

export function requireAdmin(access: Access): void {
  if (!access.admin) throw new Forbidden("this operation needs the admin token (Authorization: Bearer <FORGE_ADMIN_TOKEN>)");
}

export function requireApi(access: Access): void {
  if (!access.api) throw new Forbidden("this server needs a token (Authorization: Bearer <FORGE_API_TOKEN>)");
}
