import { type Clock, withinMs } from "../clock.ts";
import { type Db, driverCause } from "../store/db.ts";
import { migrationFiles } from "../store/migrate.ts";

export type Readiness = { ready: true } | { ready: false; reason: string };

export interface ReadinessOptions {
  db: Db;
  clock: Clock;
  /** A worker process: its last heartbeat, and how old it may be before the process is not ready. */
  heartbeat?: { lastAt: () => Date | null; maxAgeMs: number };
  /** How long the database gets to answer before the check says it does not (default 2 s). */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 2000;

/** The migrations this code knows, read from their files once per dialect (a probe comes every few seconds). */
const known = new Map<Db["dialect"], string[]>();
function migrationNames(dialect: Db["dialect"]): string[] {
  let names = known.get(dialect);
  if (!names) {
    names = migrationFiles(dialect).map((file) => file.name);
    known.set(dialect, names);
  }
  return names;
}

/**
 * `/readyz` (API.md, "Operations"): ready when the database answers and every migration this
 * code knows is recorded as applied, and, for a worker, its heartbeat is fresh. Asked anew on
 * every check (one indexed read of a table of a few rows), so a database that comes back or a
 * migration applied by another process makes the process ready again by itself.
 */
export async function checkReadiness(options: ReadinessOptions): Promise<Readiness> {
  const { db, clock, heartbeat } = options;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let applied: Set<string>;
  try {
    const rows = await withinMs(
      db.read.$queryRawUnsafe<Array<{ name: string }>>("SELECT name FROM forge_migrations"),
      timeoutMs,
      `the database did not answer within ${timeoutMs} ms`,
    );
    applied = new Set(rows.map((row) => row.name));
  } catch (error) {
    return { ready: false, reason: `database unavailable: ${oneLine(error)}` };
  }
  const pending = migrationNames(db.dialect).filter((name) => !applied.has(name));
  if (pending.length > 0) return { ready: false, reason: `migrations pending: ${pending.join(", ")}` };
  if (heartbeat) {
    const last = heartbeat.lastAt();
    const age = last === null ? Number.POSITIVE_INFINITY : clock.now().getTime() - last.getTime();
    if (age > heartbeat.maxAgeMs) {
      return {
        ready: false,
        reason: last === null ? "the worker has not registered yet" : `the worker's last heartbeat is ${Math.round(age / 1000)} s old`,
      };
    }
  }
  return { ready: true };
}

/** The driver's own words for an error (Prisma wraps them in lines of its own), on one line. */
function oneLine(error: unknown): string {
  const cause = driverCause(error);
  const message = cause?.originalMessage ?? cause?.kind ?? (error instanceof Error ? error.message : String(error));
  return (message.split("\n").find((line) => line.trim() !== "") ?? "unknown error").trim().slice(0, 300);
}
