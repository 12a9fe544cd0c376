/*
 * Reads of runs and their steps. The statements that write them are in sql/, one verb a
 * file.
 */
import type { RunStatus } from "../domain/status.ts";
import { type Db, Prisma, type Tx } from "./db.ts";
import type { RunWhereInput } from "./generated/models.ts";
import {
  type JsonParsing,
  RUN_COLUMNS,
  type RunRecord,
  rawRun,
  rawStep,
  STEP_COLUMNS,
  type StepRecord,
  toRunRecord,
  toStepRecord,
} from "./records.ts";

/** Runs matching a condition on the runs table, read with raw SQL (see records.ts for why). */
async function selectRuns(db: Db, where: Prisma.Sql): Promise<RunRecord[]> {
  const rows = await db.read.$queryRaw<Record<string, unknown>[]>`SELECT ${RUN_COLUMNS} FROM runs WHERE ${where}`;
  return rows.map((row) => toRunRecord(rawRun(row)));
}

/** Which of these ids and idempotency keys are taken, and by which runs. */
export async function findTaken(db: Db, ids: string[], keys: string[]): Promise<RunRecord[]> {
  if (ids.length === 0 && keys.length === 0) return [];
  // An empty IN list is not valid SQL; "" is never an id or a key (both need a character).
  return selectRuns(
    db,
    Prisma.sql`id IN (${Prisma.join(ids.length ? ids : [""])}) OR idempotency_key IN (${Prisma.join(keys.length ? keys : [""])})`,
  );
}

export async function findRun(db: Db, id: string): Promise<RunRecord | null> {
  return (await selectRuns(db, Prisma.sql`id = ${id}`))[0] ?? null;
}

export async function findRunByIdempotencyKey(db: Db, key: string): Promise<RunRecord | null> {
  return (await selectRuns(db, Prisma.sql`idempotency_key = ${key}`))[0] ?? null;
}

/** Steps of the given runs, each run's steps in their stable order. */
export async function findSteps(db: Db | Tx, runIds: string[], parsing: JsonParsing = "lazily"): Promise<StepRecord[]> {
  if (runIds.length === 0) return [];
  const client = "read" in db ? db.read : db;
  const rows = await client.$queryRaw<Record<string, unknown>[]>`
    SELECT ${STEP_COLUMNS} FROM steps WHERE run_id IN (${Prisma.join(runIds)}) ORDER BY run_id, position`;
  return rows.map((row) => toStepRecord(rawStep(row), parsing));
}

/** The WAITING steps of the given runs (on a timer, a retry's backoff, or a signal): all a run's wait is made of. */
export async function waitingSteps(db: Db, runIds: string[]): Promise<StepRecord[]> {
  if (runIds.length === 0) return [];
  const rows = await db.read.$queryRaw<Record<string, unknown>[]>`
    SELECT ${STEP_COLUMNS} FROM steps WHERE run_id IN (${Prisma.join(runIds)}) AND status = 'WAITING' ORDER BY run_id, position`;
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
  if (filter.status != null) where.status = filter.status;
  if (filter.jobType != null) where.jobType = filter.jobType;
  if (filter.lane != null) where.lane = filter.lane;
  if (after) {
    where.OR = [{ createdAt: { lt: after.createdAt } }, { createdAt: after.createdAt, id: { lt: after.id } }];
  }
  const rows = await db.read.run.findMany({ where, orderBy: [{ createdAt: "desc" }, { id: "desc" }], take: first });
  return rows.map((row) => toRunRecord(row));
}
