import type { RunChange } from "../domain/change.ts";
import type { NewEvent } from "../domain/event.ts";
import { type RunStatus, stepTransition } from "../domain/status.ts";
import { writeOverriding, writeStepsAndEvents } from "./commit.ts";
import { type Db, Prisma, type Tx } from "./db.ts";
import { ms } from "./dialect.ts";
import type { PrismaClient } from "./generated/client.ts";
import type { RunWhereInput } from "./generated/models.ts";
import {
  type JsonParsing,
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

/** A run to create, with its steps and its first event. */
export interface NewRunRows {
  run: NewRun;
  steps: NewStep[];
  event: NewEvent;
}

/**
 * Inserts runs with their steps and first events in one transaction, all or nothing. A duplicate id or
 * idempotency key fails the whole insert with the database's unique violation (see
 * `isUniqueViolation`).
 *
 * Up to CHUNK_STEPS steps in all, that is three statements sent together. A larger batch (a
 * createRuns of 500 large graphs: over a hundred thousand steps) is written in chunks of
 * about that size within the same transaction, letting the event loop turn between them:
 * one statement over all its rows would hold it for over a second (better-sqlite3 runs
 * statements synchronously, and serializing the rows is synchronous on both databases).
 * The events of every chunk go last, so the events lock is held only for them.
 */
export async function insertRuns(db: Db, items: NewRunRows[]): Promise<void> {
  const total = items.reduce((n, item) => n + item.steps.length, 0);
  if (total <= CHUNK_STEPS) {
    const { eventsLock } = db.sql;
    await db.writeBatch((w) => [
      insertRunRows(db, w, items),
      insertStepRows(db, w, items),
      // Held from here to the commit (see Dialect.eventsLock).
      ...(eventsLock ? [w.$executeRaw(eventsLock)] : []),
      insertEventRows(db, w, items),
    ]);
    return;
  }
  const chunks: NewRunRows[][] = [[]];
  let size = 0;
  for (const item of items) {
    if (size + item.steps.length > CHUNK_STEPS && (chunks.at(-1) as NewRunRows[]).length > 0) {
      chunks.push([]);
      size = 0;
    }
    (chunks.at(-1) as NewRunRows[]).push(item);
    size += item.steps.length;
  }
  await db.write(
    async (tx) => {
      for (const chunk of chunks) {
        await insertRunRows(db, tx, chunk);
        await insertStepRows(db, tx, chunk);
        // A turn of the event loop, while what the chunks wrote so far goes to the disk.
        await Promise.all([new Promise((resolve) => setImmediate(resolve)), db.syncWalSoFar()]);
      }
      if (db.sql.eventsLock) await tx.$executeRaw(db.sql.eventsLock);
      await insertEventRows(db, tx, items);
    },
    { timeoutMs: LARGE_INSERT_TIMEOUT_MS },
  );
}

/**
 * Steps per statement, and the size up to which a batch is written in one round of statements.
 * A chunk of 1,000 steps holds the event loop for about 16 ms on SQLite (the statement runs
 * synchronously there); at 5,000 it was 72-85 ms, long enough to delay every other request.
 */
const CHUNK_STEPS = 1_000;
/** A large insert's transaction may stay open this long (Prisma's default, 5 s, is for short ones). */
const LARGE_INSERT_TIMEOUT_MS = 60_000;

function insertRunRows(db: Db, w: PrismaClient | Tx, items: NewRunRows[]) {
  const runs = items.map(({ run }) => ({
    ...run,
    graph: JSON.stringify(run.graph),
    params: JSON.stringify(run.params),
    policy: JSON.stringify(run.policy),
    createdAt: ms(run.createdAt),
    updatedAt: ms(run.updatedAt),
    startedAt: ms(run.startedAt),
    finishedAt: ms(run.finishedAt),
    wakeAt: ms(run.wakeAt),
  }));
  const { rows, text, int, time } = db.sql;
  return w.$executeRaw`INSERT INTO runs (id, mode, job_type, lane, requested_by, priority, status, graph, params,
        idempotency_key, input_hash, created_at, updated_at, started_at, finished_at, seq, wake_at, policy, lane_cap)
      SELECT ${text("id")}, ${text("mode")}, ${text("jobType")}, ${text("lane")}, ${text("requestedBy")}, ${int("priority")},
        ${text("status")}, ${text("graph")}, ${text("params")}, ${text("idempotencyKey")}, ${text("inputHash")},
        ${time("createdAt")}, ${time("updatedAt")}, ${time("startedAt")}, ${time("finishedAt")}, ${int("seq")}, ${time("wakeAt")},
        ${text("policy")}, ${int("laneCap")}
      FROM ${rows(runs)} ORDER BY v.key`;
}

function insertStepRows(db: Db, w: PrismaClient | Tx, items: NewRunRows[]) {
  const steps = items.flatMap(({ steps }) => steps.map((s) => ({ ...s, deps: JSON.stringify(s.deps) })));
  const { rows, text, int } = db.sql;
  return w.$executeRaw`INSERT INTO steps (run_id, id, position, type, deps, status)
      SELECT ${text("runId")}, ${text("id")}, ${int("position")}, ${text("type")}, ${text("deps")}, ${text("status")}
      FROM ${rows(steps)}`;
}

/** Every first event is seq 1, in the order the runs were given. */
function insertEventRows(db: Db, w: PrismaClient | Tx, items: NewRunRows[]) {
  const events = items.map(({ run, event }) => ({ ...event, runId: run.id, data: jsonOrNull(event.data), createdAt: ms(event.createdAt) }));
  const { rows, text, time } = db.sql;
  return w.$executeRaw`INSERT INTO events (run_id, seq, type, step_id, data, created_at)
      SELECT ${text("runId")}, 1, ${text("type")}, ${text("stepId")}, ${text("data")}, ${time("createdAt")}
      FROM ${rows(events)} ORDER BY v.key`;
}

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
    // Locked on PostgreSQL, so a concurrent commit waits for this one instead of racing it.
    const rows = await tx.$queryRaw<Record<string, unknown>[]>`SELECT ${RUN_COLUMNS} FROM runs WHERE id = ${runId} ${db.sql.forUpdate}`;
    const row = rows[0];
    if (!row) return null;
    const change = plan(toRunRecord(rawRun(row), "now"), await findSteps(tx, [runId], "now"));
    if (!change) return null;
    await writeOverriding(db, tx, change);
    return change;
  });
}

/** How signalRun's delivery went: completed at once, or left on the step for the tick holding the run's lease. */
export type SignalOutcome = "completed" | "left-for-tick";

/**
 * Delivers a signal to a step waiting for one, in one transaction that first locks the run.
 * `check` sees the run and the step (or undefined) and throws when they cannot take it.
 *
 * With no live lease on the run, the step succeeds now with the payload as its output
 * (`step_succeeded`, in seq order with everything else) and the run is due for the next
 * tick. While a tick holds the lease it owns the run's seq, so the payload is left on the
 * step instead; that tick's commit sees it and makes the run due, and the next tick
 * completes the step the same way.
 */
export async function deliverSignal(
  db: Db,
  runId: string,
  stepId: string,
  payload: unknown,
  now: Date,
  check: (run: RunRecord | null, step: StepRecord | undefined) => void,
): Promise<SignalOutcome> {
  return db.write(async (tx) => {
    const rows = await tx.$queryRaw<Record<string, unknown>[]>`SELECT ${RUN_COLUMNS} FROM runs WHERE id = ${runId} ${db.sql.forUpdate}`;
    const run = rows[0] ? toRunRecord(rawRun(rows[0])) : null;
    const step = run ? (await findSteps(tx, [runId])).find((s) => s.id === stepId) : undefined;
    check(run, step);
    if (!run || !step) throw new Error("check must refuse a missing run or step");
    const signal = JSON.stringify(payload ?? null);
    if (run.leaseOwner !== null && run.leaseExpiresAt !== null && run.leaseExpiresAt > now) {
      await tx.$executeRaw`UPDATE steps SET signal = ${signal}, signalled_at = ${now} WHERE run_id = ${runId} AND id = ${stepId}`;
      return "left-for-tick";
    }
    const change: RunChange = {
      runId,
      owner: "",
      epoch: run.leaseEpoch,
      baseSeq: run.seq,
      run: { status: run.status, startedAt: run.startedAt, finishedAt: run.finishedAt, updatedAt: now, wakeAt: now },
      steps: [
        {
          ...step,
          status: stepTransition(`run "${runId}" step "${stepId}"`, step.status, "SUCCEEDED"),
          output: payload ?? null,
          finishedAt: now,
          wakeAt: null,
        },
      ],
      events: [{ type: "step_succeeded", stepId, data: { attempt: step.attempts, signalled: true }, createdAt: now }],
    };
    await tx.$executeRaw`UPDATE runs SET seq = ${run.seq + 1}, updated_at = ${now}, wake_at = ${now} WHERE id = ${runId}`;
    await tx.$executeRaw`UPDATE steps SET signal = ${signal}, signalled_at = ${now} WHERE run_id = ${runId} AND id = ${stepId}`;
    await writeStepsAndEvents(db, tx, [change]);
    return "completed";
  });
}
