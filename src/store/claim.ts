import { type Db, Prisma, type Tx } from "./db.ts";
import type { PrismaClient } from "./generated/client.ts";
import type { ClaimedRun } from "./leases.ts";
import { RUN_COLUMNS, type RunRecord, rawRun, type StepRecord, toDateOrNull, toRunRecord } from "./records.ts";
import { findSteps } from "./runs.ts";

/**
 * The claim: which due runs a tick takes, and taking their leases, in one statement.
 *
 * The pick order (API.md, "Priority holds across lanes") is written once, here: highest
 * priority first, then oldest, then by id, whatever the run's lane. A run in a lane its
 * policy caps (`laneConcurrency`) joins the same order when its lane has a free slot: the
 * slots are counted in the same statement from the runs themselves (those RUNNING, and
 * those PENDING under a live lease: claimed, their start not yet committed), so there is no
 * counter to leak, and a capped lane with a free slot is never passed over for
 * lower-priority runs of other lanes.
 */
export interface ClaimRequest {
  owner: string;
  now: Date;
  leaseMs: number;
  limit: number;
}

/** The pick order as SQL, for the rows of `alias` (or unqualified). */
function pickOrder(alias = ""): Prisma.Sql {
  const p = alias ? `${alias}.` : "";
  return Prisma.raw(`${p}priority DESC, ${p}created_at, ${p}id`);
}

/** The pick order in JavaScript, for what the database hands back unordered (RETURNING). */
export function byPickOrder(a: RunRecord, b: RunRecord): number {
  return b.priority - a.priority || a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** `r` comes before `c` in the pick order (a row-value comparison both dialects run). */
function aheadOf(r: string, c: string): Prisma.Sql {
  return Prisma.raw(`(-${r}.priority, ${r}.created_at, ${r}.id) < (-${c}.priority, ${c}.created_at, ${c}.id)`);
}

/** A run (of `alias`, or of the only table in scope) that is due and that nobody holds a live lease on. */
function dueAndFree(alias: string | null, now: Date): Prisma.Sql {
  const a = Prisma.raw(alias ? `${alias}.` : "");
  return Prisma.sql`${a}wake_at IS NOT NULL AND ${a}wake_at <= ${now} AND (${a}lease_owner IS NULL OR ${a}lease_expires_at <= ${now})`;
}

/**
 * The ids of up to `limit` runs to claim, in pick order.
 *
 * Runs not subject to a cap right now (uncapped lanes, or already started) come from
 * runs_open_due_idx, a partial index of just those, in pick order: the read stops after
 * `limit` entries however many runs are queued, in capped lanes included. (Its condition is
 * written here exactly as in the index, unqualified, so SQLite sees that the index covers it.)
 *
 * With `capped`, the pending runs of capped lanes join them. The lanes are found with a skip
 * scan over runs_capped_pending_idx (one index probe per lane), each lane's load is counted
 * once, and only each lane's first `limit` runs are read (each CTE is MATERIALIZED, so a
 * lane's load is counted once, not once per candidate). Then each lane's queue is walked in
 * pick order, as claims would take it one by one: a run is admitted while the lane's load,
 * counting the runs admitted before it, is under that run's own cap (the policy it was
 * created under, so a lane whose cap was raised uses its new room at once). Both sources
 * meet in one ORDER BY.
 */
export function pickIds(db: Db, req: ClaimRequest, capped: boolean): Prisma.Sql {
  const open = Prisma.sql`
    SELECT id, priority, created_at FROM runs ${db.sql.indexedBy("runs_open_due_idx")}
    WHERE ${dueAndFree(null, req.now)} AND (lane_cap IS NULL OR status <> 'PENDING')
    ORDER BY ${pickOrder()} LIMIT ${req.limit} ${db.sql.skipLocked}`;
  if (!capped) return Prisma.sql`SELECT id FROM (${open}) AS uncapped`;
  const cappedIdx = db.sql.indexedBy("runs_capped_pending_idx");
  return Prisma.sql`
    WITH RECURSIVE lanes(lane) AS MATERIALIZED (
      SELECT min(lane) FROM runs ${cappedIdx} WHERE lane_cap IS NOT NULL AND status = 'PENDING'
      UNION ALL
      SELECT (SELECT min(r.lane) FROM runs r ${cappedIdx} WHERE r.lane_cap IS NOT NULL AND r.status = 'PENDING' AND r.lane > lanes.lane)
      FROM lanes WHERE lanes.lane IS NOT NULL
    ),
    loads AS MATERIALIZED (
      SELECT l.lane,
        (SELECT count(*) FROM runs o ${db.sql.indexedBy("runs_running_lane_idx")} WHERE o.lane = l.lane AND o.status = 'RUNNING')
        + (SELECT count(*) FROM runs o ${db.sql.indexedBy("runs_leased_idx")}
           WHERE o.lease_owner IS NOT NULL AND o.lease_expires_at > ${req.now} AND o.lane = l.lane AND o.status = 'PENDING') AS active
      FROM lanes l WHERE l.lane IS NOT NULL
    ),
    queued AS MATERIALIZED (
      SELECT c.id, c.lane, c.priority, c.created_at, c.lane_cap,
        ROW_NUMBER() OVER (PARTITION BY c.lane ORDER BY ${pickOrder("c")}) AS place
      FROM ${db.sql.firstOfEachLane(Prisma.sql`
        SELECT x.id, x.lane, x.priority, x.created_at, x.lane_cap FROM runs x ${cappedIdx}
        WHERE x.lane = loads.lane AND x.lane_cap IS NOT NULL AND x.status = 'PENDING' AND ${dueAndFree("x", req.now)}
        ORDER BY ${pickOrder("x")} LIMIT ${req.limit}`)}
    ),
    walk(lane, place, taken, admitted) AS (
      SELECT lane, CAST(0 AS BIGINT), active, 0 FROM loads
      UNION ALL
      SELECT w.lane, q.place, w.taken + CASE WHEN w.taken < q.lane_cap THEN 1 ELSE 0 END,
        CASE WHEN w.taken < q.lane_cap THEN 1 ELSE 0 END
      FROM walk w JOIN queued q ON q.lane = w.lane AND q.place = w.place + 1
    ),
    candidates AS (
      SELECT id, priority, created_at FROM (${open}) AS uncapped
      UNION ALL
      SELECT q.id, q.priority, q.created_at FROM queued q JOIN walk w ON w.lane = q.lane AND w.place = q.place WHERE w.admitted = 1
    )
    SELECT id FROM candidates ORDER BY ${pickOrder()} LIMIT ${req.limit}`;
}

/**
 * Claims up to `limit` due runs in pick order, in one statement that also returns them
 * (with their steps where the dialect can), so the tick needs no second read of its runs.
 * On PostgreSQL the pick skips rows another worker's claim has locked instead of queueing
 * behind it, so concurrent workers take disjoint batches; claims that count capped lanes
 * take turns under the lanes lock (SQLite's single writer does the same), so two of them
 * cannot both fill a lane's last slot. Claims while no capped lane has a pending run (one
 * probe of a mostly empty partial index) leave that part out and take no lock.
 */
export async function claimDueRuns(db: Db, req: ClaimRequest): Promise<ClaimedRun[]> {
  const expires = new Date(req.now.getTime() + req.leaseMs);
  const inlineSteps = db.sql.stepsOfRunAsJson;
  const capped = await cappedRunsWaiting(db, req.now);
  const statement = (w: PrismaClient | Tx) => w.$queryRaw<Record<string, unknown>[]>`
    UPDATE runs SET lease_owner = ${req.owner}, lease_epoch = lease_epoch + 1, lease_expires_at = ${expires}
    WHERE ${db.sql.idIn(pickIds(db, req, capped))} AND ${dueAndFree("runs", req.now)}
    RETURNING ${RUN_COLUMNS}${inlineSteps ? Prisma.sql`, ${inlineSteps} AS "stepsJson"` : Prisma.empty}`;
  const lock = capped ? db.sql.lanesLock : null;
  const rows = lock
    ? await db.write(async (tx) => {
        await tx.$executeRaw(lock);
        return statement(tx);
      })
    : (await db.writeBatch((w) => [statement(w)]))[0];
  const runs = rows.map((row) => toRunRecord(rawRun(row), "now"));
  // Read after the claim where the claim cannot return them consistently (Dialect.stepsOfRunAsJson);
  // the runs are leased now, so their steps cannot change underneath.
  const stepsByRun = new Map<string, StepRecord[]>();
  if (inlineSteps) {
    for (const [i, row] of rows.entries()) {
      const runId = (runs[i] as RunRecord).id;
      stepsByRun.set(runId, parseStepsJson(runId, row.stepsJson));
    }
  } else {
    for (const step of await findSteps(
      db,
      runs.map((r) => r.id),
      "now",
    )) {
      const list = stepsByRun.get(step.runId) ?? [];
      list.push(step);
      stepsByRun.set(step.runId, list);
    }
  }
  // RETURNING gives no order; restore the pick order.
  runs.sort(byPickOrder);
  return runs.map((run) => ({ runId: run.id, epoch: run.leaseEpoch, run, steps: stepsByRun.get(run.id) ?? [] }));
}

/** Whether any pending run of a capped lane is due and free: one probe of a (mostly empty) partial index. */
async function cappedRunsWaiting(db: Db, now: Date): Promise<boolean> {
  const rows = await db.read.$queryRaw<unknown[]>`
    SELECT x.id FROM runs x ${db.sql.indexedBy("runs_capped_pending_idx")}
    WHERE x.lane_cap IS NOT NULL AND x.status = 'PENDING' AND ${dueAndFree("x", now)} LIMIT 1`;
  return rows.length > 0;
}

function parseStepsJson(runId: string, json: unknown): StepRecord[] {
  return (JSON.parse(json as string) as Array<Omit<StepRecord, "runId">>).map(
    (s): StepRecord => ({
      ...s,
      runId,
      startedAt: toDateOrNull(s.startedAt),
      finishedAt: toDateOrNull(s.finishedAt),
      wakeAt: toDateOrNull(s.wakeAt),
      signalledAt: toDateOrNull(s.signalledAt),
      output: s.output ?? null,
      signal: s.signal ?? null,
    }),
  );
}

/**
 * Due runs another ticker holds a live lease on. When the claim was cut short by its
 * limit, only those ranked ahead of the last claimed run count as passed over.
 */
export async function countLeasedByOthers(db: Db, owner: string, now: Date, lastClaimed: string | null): Promise<number> {
  // runs_leased_idx holds only the runs in a tick right now, so this reads a handful of rows.
  const leased = db.sql.indexedBy("runs_leased_idx");
  const from = lastClaimed
    ? Prisma.sql`runs r ${leased}, (SELECT priority, created_at, id FROM runs WHERE id = ${lastClaimed}) c`
    : Prisma.sql`runs r ${leased}`;
  const rows = await db.read.$queryRaw<Array<{ n: number }>>`
    SELECT count(*) AS n FROM ${from}
    WHERE r.wake_at IS NOT NULL AND r.wake_at <= ${now}
      AND r.lease_owner IS NOT NULL AND r.lease_owner <> ${owner} AND r.lease_expires_at > ${now}
      ${lastClaimed ? Prisma.sql`AND ${aheadOf("r", "c")}` : Prisma.empty}`;
  return Number(rows[0]?.n ?? 0);
}
