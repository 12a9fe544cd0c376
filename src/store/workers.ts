import type { Db } from "./db.ts";
import { toDateOrNull } from "./records.ts";
import { dueAndFree } from "./sql/pick-order.ts";

/** Worker registry: one row per worker process, kept fresh by heartbeats. */
export async function registerWorker(db: Db, id: string, now: Date): Promise<void> {
  await db.writeBatch((w) => [
    w.worker.upsert({
      where: { id },
      create: { id, startedAt: now, heartbeatAt: now },
      update: { startedAt: now, heartbeatAt: now, stoppedAt: null },
    }),
  ]);
}

export async function recordWorkerTicks(db: Db, id: string, ticks: number, lastTickAt: Date | null, now: Date): Promise<void> {
  await db.writeBatch((w) => [w.worker.update({ where: { id }, data: { heartbeatAt: now, ticks, lastTickAt } })]);
}

export async function markWorkerStopped(db: Db, id: string, now: Date): Promise<void> {
  await db.writeBatch((w) => [w.worker.update({ where: { id }, data: { stoppedAt: now, heartbeatAt: now } })]);
}

export interface WorkerRow {
  id: string;
  ticks: number;
  lastTickAt: Date | null;
  heartbeatAt: Date;
  startedAt: Date;
}

/** Workers whose last heartbeat is at or after `since` and that have not stopped. */
export async function liveWorkers(db: Db, since: Date): Promise<WorkerRow[]> {
  return db.read.worker.findMany({
    where: { stoppedAt: null, heartbeatAt: { gte: since } },
    orderBy: { heartbeatAt: "desc" },
    select: { id: true, ticks: true, lastTickAt: true, heartbeatAt: true, startedAt: true },
  });
}

export interface QueueStats {
  depth: number;
  oldest: Date | null;
}

/**
 * The earliest time after `now` at which a run becomes due (a retry's backoff, a sleep), or
 * null. Runs already due are left out: those nobody has claimed are ticked anyway, and the
 * others belong to whoever holds their lease.
 */
export async function nextWakeAt(db: Db, now: Date): Promise<Date | null> {
  const agg = await db.read.run.aggregate({ where: { wakeAt: { gt: now } }, _min: { wakeAt: true } });
  return agg._min.wakeAt;
}

/** Runs the scheduler would pick now (due, whatever their lease), and the longest-waiting one's due time. */
export async function queueStats(db: Db, now: Date): Promise<QueueStats> {
  const agg = await db.read.run.aggregate({ where: { wakeAt: { lte: now } }, _count: { _all: true }, _min: { wakeAt: true } });
  return { depth: agg._count._all, oldest: agg._min.wakeAt };
}

export interface LaneQueue {
  lane: string;
  depth: number;
  oldestDueAt: Date | null;
}

/**
 * Runs due and free of a live lease, per lane, with the earliest due time of each: what the
 * queue gauges show. Reads the partial index on wake_at (finished runs have none), so its cost
 * grows with the queue, not with the runs stored.
 */
export async function queueByLane(db: Db, now: Date): Promise<LaneQueue[]> {
  const rows = await db.read.$queryRaw<Array<{ lane: string; depth: number | bigint; oldest: unknown }>>`
    SELECT lane, COUNT(*) AS depth, MIN(wake_at) AS oldest FROM runs WHERE ${dueAndFree(null, now)} GROUP BY lane`;
  return rows.map((row) => ({ lane: row.lane, depth: Number(row.depth), oldestDueAt: toDateOrNull(row.oldest) }));
}
