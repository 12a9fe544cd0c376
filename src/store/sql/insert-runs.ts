/*
 * Inserting runs: the runs, their steps and their first events, and the chunking of a large
 * batch. One file, because the three inserts are one all-or-nothing write whose order
 * (events last, so the events lock is held only for them) is the point.
 */
import type { Db, Tx } from "../db.ts";
import { ms } from "../dialect.ts";
import type { PrismaClient } from "../generated/client.ts";
import type { NewRunRows } from "../records.ts";
import { appendFirstEvents, eventsLock } from "./append-events.ts";

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
    const lock = eventsLock(db);
    await db.writeBatch((w) => [
      insertRunRows(db, w, items),
      insertStepRows(db, w, items),
      // Held from here to the commit (see append-events.ts).
      ...(lock ? [w.$executeRaw(lock)] : []),
      appendFirstEvents(db, w, items),
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
      const lock = eventsLock(db);
      if (lock) await tx.$executeRaw(lock);
      await appendFirstEvents(db, tx, items);
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
        idempotency_key, input_hash, created_at, updated_at, started_at, finished_at, seq, wake_at, policy, lane_cap, rerun_of)
      SELECT ${text("id")}, ${text("mode")}, ${text("jobType")}, ${text("lane")}, ${text("requestedBy")}, ${int("priority")},
        ${text("status")}, ${text("graph")}, ${text("params")}, ${text("idempotencyKey")}, ${text("inputHash")},
        ${time("createdAt")}, ${time("updatedAt")}, ${time("startedAt")}, ${time("finishedAt")}, ${int("seq")}, ${time("wakeAt")},
        ${text("policy")}, ${int("laneCap")}, ${text("rerunOf")}
      FROM ${rows(runs)} ORDER BY v.key`;
}

function insertStepRows(db: Db, w: PrismaClient | Tx, items: NewRunRows[]) {
  const steps = items.flatMap(({ steps }) => steps.map((s) => ({ ...s, deps: JSON.stringify(s.deps) })));
  const { rows, text, int } = db.sql;
  return w.$executeRaw`INSERT INTO steps (run_id, id, position, type, deps, status)
      SELECT ${text("runId")}, ${text("id")}, ${int("position")}, ${text("type")}, ${text("deps")}, ${text("status")}
      FROM ${rows(steps)}`;
}
