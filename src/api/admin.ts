import type { AdminAction } from "../engine/audit.ts";
import { ForgeError } from "../errors.ts";
import { requireAdmin } from "./auth.ts";
import type { Context } from "./context.ts";

/**
 * Every admin mutation goes through here: the admin check, the action, and its record in the
 * engine's audit trail (engine/audit.ts) once it has taken effect. An action refused for its
 * input (BAD_USER_INPUT, NOT_FOUND, CONFLICT, FORBIDDEN) changed nothing and is not recorded;
 * one that failed otherwise is recorded with the error, since a bulk action or a prune may
 * have committed some of its batches before it failed.
 */
export async function adminAction<T>(
  ctx: Context,
  action: string,
  target: string | null,
  run: () => Promise<T>,
  detail: (result: T) => Record<string, unknown> = () => ({}),
): Promise<T> {
  requireAdmin(ctx.access);
  const record = (details: Record<string, unknown>) => {
    const entry: AdminAction = { actor: "admin-token", action, target, detail: details, at: ctx.forge.clock.now() };
    ctx.forge.resources.audit.record(entry);
  };
  let result: T;
  try {
    result = await run();
  } catch (error) {
    if (!(error instanceof ForgeError)) record({ failed: error instanceof Error ? error.message : String(error) });
    throw error;
  }
  record(detail(result));
  return result;
}
