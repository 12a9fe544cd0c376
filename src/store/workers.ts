import type { Db } from "./db.ts";
import { toDateOrNull } from "./records.ts";
import { dueAndFree, notPaused } from "./sql/pick-order.ts";

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

/** The rows of these workers (any state), by id: whether a lease's holder is a worker known to be gone. */
export async function workersByIds(db: Db, ids: string[]): Promise<Map<string, { heartbeatAt: Date; stoppedAt: Date | null }>> {
  if (ids.length === 0) return new Map();
  const rows = await db.read.worker.findMany({ where: { id: { in: ids } }, select: { id: true, heartbeatAt: true, stoppedAt: true } });
  return new Map(rows.map((r) => [r.id, { heartbeatAt: r.heartbeatAt, stoppedAt: r.stoppedAt }]));
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

/**
 * Runs the scheduler would pick now (due, whatever their lease; not those a pause holds
 * back, which wait for an operator rather than for capacity), and the longest-waiting one's due time.
 */
export async function queueStats(db: Db, now: Date): Promise<QueueStats> {
  const [row] = await db.read.$queryRaw<Array<{ depth: number | bigint; oldest: unknown }>>`
    SELECT COUNT(*) AS depth, MIN(wake_at) AS oldest FROM runs WHERE wake_at <= ${now} AND ${notPaused("runs")}`;
  return { depth: Number(row?.depth ?? 0), oldest: toDateOrNull(row?.oldest) };
}

export interface LaneQueue {
  lane: string;
  depth: number;
  oldestDueAt: Date | null;
}

/**
 * Runs due and free of a live lease, per lane, with the earliest due time of each: what the
 * queue gauges show. Runs a pause holds back are left out: they wait for an operator, not for
 * capacity, and would otherwise set off queue-age alerts for as long as the pause lasts. Reads the partial index on wake_at (finished runs have none), so its cost
 * grows with the queue, not with the runs stored.
 */
export async function queueByLane(db: Db, now: Date): Promise<LaneQueue[]> {
  const rows = await db.read.$queryRaw<Array<{ lane: string; depth: number | bigint; oldest: unknown }>>`
    SELECT lane, COUNT(*) AS depth, MIN(wake_at) AS oldest FROM runs WHERE ${dueAndFree(null, now)} AND ${notPaused("runs")} GROUP BY lane`;
  return rows.map((row) => ({ lane: row.lane, depth: Number(row.depth), oldestDueAt: toDateOrNull(row.oldest) }));
}
