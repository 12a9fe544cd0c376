/*
 * The claim: the statement that picks due runs and takes their leases, with the pick it
 * is built on and the probes that ask about the same queue (whether capped lanes wait,
 * which runs others hold). One file, because they read the same indexes in the same order
 * and the dialect differences they need are theirs alone.
 */
import { type Db, Prisma, type Tx } from "../db.ts";
import type { Dialect } from "../dialect.ts";
import type { PrismaClient } from "../generated/client.ts";
import { type Claimed, RUN_COLUMNS, type RunRecord, rawRun, type StepRecord, toDateOrNull, toRunRecord } from "../records.ts";
import { findSteps } from "../runs.ts";
import { aheadOf, byPickOrder, dueAndFree, notPaused, pickOrder } from "./pick-order.ts";

/**
 * The claim: which due runs a tick takes, and taking their leases, in one statement.
 *
 * Runs are taken in the pick order (pick-order.ts: highest priority first, then oldest,
 * then by id, whatever the run's lane), passing over runs a pause holds back (notPaused). A run in a lane its policy caps (`laneConcurrency`)
 * joins the same order when its lane has a free slot: the slots are counted in the same
 * statement from the runs themselves (those RUNNING, and those PENDING under a live lease:
 * claimed, their start not yet committed), so there is no counter to leak, and a capped
 * lane with a free slot is never passed over for lower-priority runs of other lanes.
 */
export interface ClaimRequest {
  owner: string;
  now: Date;
  leaseMs: number;
  limit: number;
}

/** A claimed run as it stands right after the claim (the lease is already on it), with its steps. */
export interface ClaimedRun extends Claimed {
  run: RunRecord;
  steps: StepRecord[];
}

/** What the claim says differently on each database. */
interface ClaimDialect {
  /**
   * A run's steps, in their stable order, as one JSON text value (correlated on `runs.id`),
   * for the claim to return with each run. Null on PostgreSQL: there a claim that takes over
   * a lease re-reads the run row as the last committer left it, but a subquery in the same
   * statement still reads the statement's older snapshot, so the steps could predate the
   * run (and finished steps would run again). There they are read after the claim.
   */
  readonly stepsOfRunAsJson: Prisma.Sql | null;
  /** Ends the claim's pick: rows locked by a concurrent claim are passed over, not waited for. */
  readonly skipLocked: Prisma.Sql;
  /**
   * `id` is one of the ids the subquery picks. PostgreSQL plans a plain `id IN (subquery)`
   * in an UPDATE as a hash join over a scan of the whole table; `= ANY(ARRAY(...))` runs
   * the pick once and then looks the few ids up by primary key.
   */
  idIn(pick: Prisma.Sql): Prisma.Sql;
  /**
   * `loads` joined with, for each of its lanes, the rows `firstRuns` selects (a subquery
   * correlated on `loads.lane`, with a LIMIT), as `c`: PostgreSQL's LATERAL join, and on
   * SQLite (which has none) a lookup of the subquery's ids, which it runs once per lane.
   */
  firstOfEachLane(firstRuns: Prisma.Sql): Prisma.Sql;
  /**
   * Taken by a claim of runs in capped lanes before it counts their running runs, and held
   * until it commits: claimers count one after another. SQLite's single writer already does this.
   */
  readonly lanesLock: Prisma.Sql | null;
}

const raw = Prisma.raw;

const claimSql: { readonly [name in Dialect["name"]]: ClaimDialect } = {
  sqlite: {
    stepsOfRunAsJson: raw(`(SELECT json_group_array(json_object('id', s.id, 'position', s.position, 'type', s.type,
      'deps', json(s.deps), 'status', s.status, 'attempts', s.attempts, 'startedAt', s.started_at, 'finishedAt', s.finished_at,
      'output', json(s.output), 'error', s.error, 'wakeAt', s.wake_at, 'signal', json(s.signal),
      'signalledAt', s.signalled_at))
    FROM (SELECT * FROM steps s WHERE s.run_id = runs.id ORDER BY s.position) s)`),
    skipLocked: Prisma.empty,
    idIn: (pick) => Prisma.sql`id IN (${pick})`,
    firstOfEachLane: (firstRuns) => Prisma.sql`loads JOIN runs c ON c.id IN (SELECT first.id FROM (${firstRuns}) AS first)`,
    lanesLock: null,
  },
  postgres: {
    stepsOfRunAsJson: null,
    skipLocked: raw("FOR UPDATE SKIP LOCKED"),
    idIn: (pick) => Prisma.sql`id = ANY(ARRAY(${pick}))`,
    firstOfEachLane: (firstRuns) => Prisma.sql`loads CROSS JOIN LATERAL (${firstRuns}) AS c`,
    // Keyed by schema, so Forge instances in different schemas of one database do not wait on each other.
    lanesLock: raw(`SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.forge_lanes'))`),
  },
};

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
  const { skipLocked, firstOfEachLane } = claimSql[db.dialect];
  const open = Prisma.sql`
    SELECT id, priority, created_at FROM runs ${db.sql.indexedBy("runs_open_due_idx")}
    WHERE ${dueAndFree(null, req.now)} AND (lane_cap IS NULL OR status <> 'PENDING') AND ${notPaused("runs")}
    ORDER BY ${pickOrder()} LIMIT ${req.limit} ${skipLocked}`;
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
      FROM ${firstOfEachLane(Prisma.sql`
        SELECT x.id, x.lane, x.priority, x.created_at, x.lane_cap FROM runs x ${cappedIdx}
        WHERE x.lane = loads.lane AND x.lane_cap IS NOT NULL AND x.status = 'PENDING' AND ${dueAndFree("x", req.now)}
          AND ${notPaused("x")}
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
  const { stepsOfRunAsJson: inlineSteps, idIn, lanesLock } = claimSql[db.dialect];
  const capped = await cappedRunsWaiting(db, req.now);
  const statement = (w: PrismaClient | Tx) => w.$queryRaw<Record<string, unknown>[]>`
    UPDATE runs SET lease_owner = ${req.owner}, lease_epoch = lease_epoch + 1, lease_expires_at = ${expires}
    WHERE ${idIn(pickIds(db, req, capped))} AND ${dueAndFree("runs", req.now)}
    RETURNING ${RUN_COLUMNS}${inlineSteps ? Prisma.sql`, ${inlineSteps} AS "stepsJson"` : Prisma.empty}`;
  const lock = capped ? lanesLock : null;
  const rows = lock
    ? await db.write(async (tx) => {
        await tx.$executeRaw(lock);
        return statement(tx);
      })
    : (await db.writeBatch((w) => [statement(w)]))[0];
  const runs = rows.map((row) => toRunRecord(rawRun(row), "now"));
  // Read after the claim where the claim cannot return them consistently (ClaimDialect.stepsOfRunAsJson);
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
    WHERE x.lane_cap IS NOT NULL AND x.status = 'PENDING' AND ${dueAndFree("x", now)} AND ${notPaused("x")} LIMIT 1`;
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

/**
 * Each lane's load as the claim counts it against the lane's cap: its RUNNING runs and its
 * PENDING runs under a live lease (claimed, their start not yet committed).
 */
export async function laneLoads(db: Db, lanes: readonly string[], now: Date): Promise<Map<string, number>> {
  const loads = new Map<string, number>(lanes.map((lane) => [lane, 0]));
  if (lanes.length === 0) return loads;
  const rows = await db.read.$queryRaw<Array<{ lane: string; n: number | bigint }>>`
    SELECT lane, count(*) AS n FROM runs
    WHERE lane IN (${Prisma.join([...lanes])})
      AND (status = 'RUNNING' OR (status = 'PENDING' AND lease_owner IS NOT NULL AND lease_expires_at > ${now}))
    GROUP BY lane`;
  for (const row of rows) loads.set(row.lane, Number(row.n));
  return loads;
}
