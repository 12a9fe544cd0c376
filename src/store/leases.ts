import type { NewEvent } from "../domain/event.ts";
import type { RunStatus, StepStatus } from "../domain/status.ts";
import { chunk } from "./chunk.ts";
import { type Db, Prisma, type Tx } from "./db.ts";
import { jsonOrNull } from "./records.ts";

/**
 * Leases and the writes made under them.
 *
 * A lease is (owner, epoch, expiresAt) on the run row. Claiming is one conditional
 * update: free or expired -> mine, epoch + 1. Every write a ticker makes is conditional
 * on owner and epoch (and on the run's seq being what the ticker read), so a ticker whose
 * lease expired and changed hands matches no row and commits nothing for that run.
 */
export interface Claimed {
  runId: string;
  epoch: number;
}

export interface ClaimRequest {
  owner: string;
  now: Date;
  leaseMs: number;
  limit: number;
}

/** Claims up to `limit` due runs, highest priority first, then oldest, in one statement. */
export async function claimDueRuns(db: Db, req: ClaimRequest): Promise<Claimed[]> {
  const expires = new Date(req.now.getTime() + req.leaseMs);
  const [rows] = await db.writeBatch((w) => [
    w.$queryRaw<Array<{ id: string; lease_epoch: number; priority: number; created_at: Date }>>`
      UPDATE runs SET lease_owner = ${req.owner}, lease_epoch = lease_epoch + 1, lease_expires_at = ${expires}
      WHERE id IN (
        SELECT id FROM runs
        WHERE wake_at IS NOT NULL AND wake_at <= ${req.now}
          AND (lease_owner IS NULL OR lease_expires_at <= ${req.now})
        ORDER BY priority DESC, created_at, id
        LIMIT ${req.limit})
      RETURNING id, lease_epoch, priority, created_at`,
  ]);
  // RETURNING gives no order; restore the pick order.
  rows.sort(
    (a, b) =>
      b.priority - a.priority ||
      new Date(a.created_at).getTime() - new Date(b.created_at).getTime() ||
      (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
  return rows.map((r) => ({ runId: r.id, epoch: Number(r.lease_epoch) }));
}

/**
 * Due runs another ticker holds a live lease on. When the claim was cut short by its
 * limit, only those ranked ahead of the last claimed run count as passed over.
 */
export async function countLeasedByOthers(db: Db, owner: string, now: Date, lastClaimed: string | null): Promise<number> {
  const cutoff = lastClaimed
    ? Prisma.sql`AND (r.priority > c.priority OR (r.priority = c.priority AND (r.created_at < c.created_at
        OR (r.created_at = c.created_at AND r.id < c.id))))`
    : Prisma.empty;
  const from = lastClaimed
    ? Prisma.sql`runs r, (SELECT priority, created_at, id FROM runs WHERE id = ${lastClaimed}) c`
    : Prisma.sql`runs r`;
  const rows = await db.read.$queryRaw<Array<{ n: number }>>`
    SELECT count(*) AS n FROM ${from}
    WHERE r.wake_at IS NOT NULL AND r.wake_at <= ${now}
      AND r.lease_owner IS NOT NULL AND r.lease_owner <> ${owner} AND r.lease_expires_at > ${now} ${cutoff}`;
  return Number(rows[0]?.n ?? 0);
}

export interface StepUpdate {
  id: string;
  status: StepStatus;
  attempts: number;
  startedAt: Date | null;
  finishedAt: Date | null;
  output: unknown;
  error: string | null;
}

/** Everything one tick changed in one run, to be committed atomically under its lease. */
export interface RunChange {
  runId: string;
  owner: string;
  epoch: number;
  /** The run's seq when the ticker read it; its events take the next numbers. */
  baseSeq: number;
  run: { status: RunStatus; startedAt: Date | null; finishedAt: Date | null; updatedAt: Date; wakeAt: Date | null };
  steps: StepUpdate[];
  events: NewEvent[];
}

/** Rows per multi-row statement: well under SQLite's 32,766 bound parameters. */
const ROWS_PER_STATEMENT = 1000;

/**
 * Commits the changes of several runs in one transaction and releases their leases.
 * Returns the ids committed; a run whose lease was lost is left untouched.
 */
export async function commitChanges(tx: Tx, changes: RunChange[]): Promise<Set<string>> {
  const committed = new Set<string>();
  for (const part of chunk(changes, ROWS_PER_STATEMENT / 2)) {
    const rows = await tx.$queryRaw<Array<{ id: string }>>`
      UPDATE runs SET status = v.column5, seq = v.column6, started_at = v.column7, finished_at = v.column8,
        updated_at = v.column9, wake_at = v.column10, lease_owner = NULL, lease_expires_at = NULL
      FROM (VALUES ${Prisma.join(
        part.map(
          (c) =>
            Prisma.sql`(${c.runId}, ${c.owner}, ${c.epoch}, ${c.baseSeq}, ${c.run.status}, ${c.baseSeq + c.events.length},
              ${c.run.startedAt}, ${c.run.finishedAt}, ${c.run.updatedAt}, ${c.run.wakeAt})`,
        ),
      )}) AS v
      WHERE runs.id = v.column1 AND runs.lease_owner = v.column2 AND runs.lease_epoch = v.column3 AND runs.seq = v.column4
      RETURNING runs.id`;
    for (const row of rows) committed.add(row.id);
  }
  const kept = changes.filter((c) => committed.has(c.runId));
  await writeStepsAndEvents(tx, kept);
  return committed;
}

/** Writes the step updates and appends the events of changes whose run row is already written. */
export async function writeStepsAndEvents(tx: Tx, changes: RunChange[]): Promise<void> {
  const steps = changes.flatMap((c) => c.steps.map((s) => ({ runId: c.runId, ...s })));
  for (const part of chunk(steps, ROWS_PER_STATEMENT)) {
    await tx.$executeRaw`
      UPDATE steps SET status = v.column3, attempts = v.column4, started_at = v.column5, finished_at = v.column6,
        output = v.column7, error = v.column8
      FROM (VALUES ${Prisma.join(
        part.map(
          (s) =>
            Prisma.sql`(${s.runId}, ${s.id}, ${s.status}, ${s.attempts}, ${s.startedAt}, ${s.finishedAt}, ${jsonOrNull(s.output)}, ${s.error})`,
        ),
      )}) AS v
      WHERE steps.run_id = v.column1 AND steps.id = v.column2`;
  }
  const events = changes.flatMap((c) => c.events.map((e, i) => ({ runId: c.runId, seq: c.baseSeq + i + 1, ...e })));
  for (const part of chunk(events, ROWS_PER_STATEMENT)) {
    await tx.$executeRaw`INSERT INTO events (run_id, seq, type, step_id, data, created_at) VALUES ${Prisma.join(
      part.map((e) => Prisma.sql`(${e.runId}, ${e.seq}, ${e.type}, ${e.stepId}, ${jsonOrNull(e.data)}, ${e.createdAt})`),
    )}`;
  }
}

/** Gives up leases this owner still holds on the given runs (after a tick that could not commit them). */
export async function releaseLeases(db: Db, owner: string, claims: Claimed[]): Promise<void> {
  if (claims.length === 0) return;
  await db.writeBatch((w) =>
    claims.map(
      (c) =>
        w.$executeRaw`UPDATE runs SET lease_owner = NULL, lease_expires_at = NULL
          WHERE id = ${c.runId} AND lease_owner = ${owner} AND lease_epoch = ${c.epoch}`,
    ),
  );
}
