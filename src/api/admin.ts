import type { AdminAction } from "../engine/audit.ts";
import { requireAdmin } from "./auth.ts";
import type { Context } from "./context.ts";

/**
 * Every admin mutation goes through here: the admin check, the action, and its record in the
 * engine's audit trail (engine/audit.ts) once it has taken effect. A refused or failed action
 * changed nothing and is not recorded.
 */
export async function adminAction<T>(
  ctx: Context,
  action: string,
  target: string | null,
  run: () => Promise<T>,
  detail: (result: T) => Record<string, unknown> = () => ({}),
): Promise<T> {
  requireAdmin(ctx.access);
  const result = await run();
  const entry: AdminAction = { actor: "admin-token", action, target, detail: detail(result), at: ctx.forge.clock.now() };
  ctx.forge.resources.audit.record(entry);
  return result;
}
