import type { NewEvent } from "../domain/event.ts";
import type { RunStatus } from "../domain/status.ts";
import { chunk } from "./chunk.ts";
import { type Db, Prisma, type Tx } from "./db.ts";
import type { RunWhereInput } from "./generated/models.ts";
import { type RunChange, writeStepsAndEvents } from "./leases.ts";
import {
  jsonOrNull,
  RUN_COLUMNS,
  type RunRecord,
  rawRun,
  rawStep,
  STEP_COLUMNS,
  type StepRecord,
  toRunRecord,
  toStepRecord,
} from "./records.ts";

export type NewRun = Omit<RunRecord, "leaseOwner" | "leaseEpoch" | "leaseExpiresAt">;
export type NewStep = Pick<StepRecord, "runId" | "id" | "position" | "type" | "deps" | "status">;

/**
 * Inserts a run, its steps and its first event in one transaction. A duplicate id or
 * idempotency key surfaces as the database's unique violation (see `isUniqueViolation`).
 */
export async function insertRun(db: Db, run: NewRun, steps: NewStep[], event: NewEvent): Promise<void> {
  await db.writeBatch((w) => [
    w.$executeRaw`INSERT INTO runs (id, mode, job_type, lane, requested_by, priority, status, graph, params,
        idempotency_key, input_hash, created_at, updated_at, started_at, finished_at, seq, wake_at)
      VALUES (${run.id}, ${run.mode}, ${run.jobType}, ${run.lane}, ${run.requestedBy}, ${run.priority}, ${run.status},
        ${JSON.stringify(run.graph)}, ${JSON.stringify(run.params)}, ${run.idempotencyKey}, ${run.inputHash},
        ${run.createdAt}, ${run.updatedAt}, ${run.startedAt}, ${run.finishedAt}, ${run.seq}, ${run.wakeAt})`,
    ...chunk(steps, STEP_ROWS_PER_INSERT).map(
      (part) =>
        w.$executeRaw`INSERT INTO steps (run_id, id, position, type, deps, status) VALUES ${Prisma.join(
          part.map((s) => Prisma.sql`(${s.runId}, ${s.id}, ${s.position}, ${s.type}, ${JSON.stringify(s.deps)}, ${s.status})`),
        )}`,
    ),
    w.$executeRaw`INSERT INTO events (run_id, seq, type, step_id, data, created_at)
      VALUES (${run.id}, 1, ${event.type}, ${event.stepId}, ${jsonOrNull(event.data)}, ${event.createdAt})`,
  ]);
}

/** SQLite allows 32,766 bound parameters per statement; 6 a row leaves ample room. */
const STEP_ROWS_PER_INSERT = 1000;

export async function findRun(db: Db, id: string): Promise<RunRecord | null> {
  const [run] = await findRuns(db, [id]);
  return run ?? null;
}

export async function findRunByIdempotencyKey(db: Db, key: string): Promise<RunRecord | null> {
  const row = await db.read.run.findUnique({ where: { idempotencyKey: key } });
  return row ? toRunRecord(row) : null;
}

export async function findRuns(db: Db | Tx, ids: string[]): Promise<RunRecord[]> {
  if (ids.length === 0) return [];
  const client = "read" in db ? db.read : db;
  const rows = await client.$queryRaw<Record<string, unknown>[]>`SELECT ${RUN_COLUMNS} FROM runs WHERE id IN (${Prisma.join(ids)})`;
  return rows.map((row) => toRunRecord(rawRun(row)));
}

/** Steps of the given runs, each run's steps in their stable order. */
export async function findSteps(db: Db | Tx, runIds: string[]): Promise<StepRecord[]> {
  if (runIds.length === 0) return [];
  const client = "read" in db ? db.read : db;
  const rows = await client.$queryRaw<Record<string, unknown>[]>`
    SELECT ${STEP_COLUMNS} FROM steps WHERE run_id IN (${Prisma.join(runIds)}) ORDER BY run_id, position`;
  return rows.map((row) => toStepRecord(rawStep(row)));
}

export interface RunFilter {
  status?: RunStatus | null;
  jobType?: string | null;
  lane?: string | null;
}

/** Position of a run in the newest-first listing. */
export interface RunCursor {
  createdAt: Date;
  id: string;
}

/** Newest first (createdAt, then id, both descending); `after` excludes it and everything before it. */
export async function listRuns(db: Db, filter: RunFilter, first: number, after: RunCursor | null): Promise<RunRecord[]> {
  const where: RunWhereInput = {};
  if (filter.status) where.status = filter.status;
  if (filter.jobType) where.jobType = filter.jobType;
  if (filter.lane) where.lane = filter.lane;
  if (after) {
    where.OR = [{ createdAt: { lt: after.createdAt } }, { createdAt: after.createdAt, id: { lt: after.id } }];
  }
  const rows = await db.read.run.findMany({ where, orderBy: [{ createdAt: "desc" }, { id: "desc" }], take: first });
  return rows.map(toRunRecord);
}

/**
 * Reads a run and its steps inside a write transaction, lets `plan` decide the change,
 * and applies it while taking the run's lease away from whoever holds it (epoch + 1),
 * so that a ticker still working on the run cannot commit afterwards. Used for changes
 * made outside a tick, such as cancellation. Returns null when `plan` returns null.
 */
export async function changeRunOverridingLease(
  db: Db,
  runId: string,
  plan: (run: RunRecord, steps: StepRecord[]) => RunChange | null,
): Promise<RunChange | null> {
  return db.write(async (tx) => {
    const row = await tx.run.findUnique({ where: { id: runId } });
    if (!row) return null;
    const change = plan(toRunRecord(row), await findSteps(tx, [runId]));
    if (!change) return null;
    const updated = await tx.$executeRaw`
      UPDATE runs SET status = ${change.run.status}, seq = ${change.baseSeq + change.events.length},
        started_at = ${change.run.startedAt}, finished_at = ${change.run.finishedAt}, updated_at = ${change.run.updatedAt},
        wake_at = ${change.run.wakeAt}, lease_owner = NULL, lease_expires_at = NULL, lease_epoch = lease_epoch + 1
      WHERE id = ${runId} AND seq = ${change.baseSeq}`;
    if (updated !== 1) throw new Error(`run "${runId}" changed while it was being updated`);
    await writeStepsAndEvents(tx, [change]);
    return change;
  });
}
