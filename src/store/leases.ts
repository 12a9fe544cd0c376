import { type Db, Prisma, type Tx } from "./db.ts";
import type { PrismaClient } from "./generated/client.ts";
import { RUN_COLUMNS, type RunRecord, rawRun, type StepRecord, toDateOrNull, toRunRecord } from "./records.ts";
import { findSteps } from "./runs.ts";

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

/** A claimed run as it stands right after the claim (the lease is already on it), with its steps. */
export interface ClaimedRun extends Claimed {
  run: RunRecord;
  steps: StepRecord[];
}

export interface ClaimRequest {
  owner: string;
  now: Date;
  leaseMs: number;
  limit: number;
}

/**
 * Claims up to `limit` due runs, highest priority first, then oldest, in one statement
 * that also returns them with their steps, so the tick needs no second read of its runs.
 * The pick reads runs_due_idx, which is already in pick order, so it stops after `limit`
 * entries however long the queue (left to itself SQLite prefers the wake-time index and
 * sorts every due run). On PostgreSQL the pick skips rows another worker's claim has
 * locked instead of queueing behind it, so concurrent workers take disjoint batches.
 */
export async function claimDueRuns(db: Db, req: ClaimRequest): Promise<ClaimedRun[]> {
  const expires = new Date(req.now.getTime() + req.leaseMs);
  const inlineSteps = db.sql.stepsOfRunAsJson;
  const returning = Prisma.sql`RETURNING ${RUN_COLUMNS}${inlineSteps ? Prisma.sql`, ${inlineSteps} AS "stepsJson"` : Prisma.empty}`;
  // Pending runs of capped lanes are left to claimCapped, which counts the lane's running runs.
  const [rows] = await db.writeBatch((w) => [
    w.$queryRaw<Record<string, unknown>[]>`
      UPDATE runs SET lease_owner = ${req.owner}, lease_epoch = lease_epoch + 1, lease_expires_at = ${expires}
      WHERE ${db.sql.idIn(Prisma.sql`
        SELECT id FROM runs ${db.sql.indexedBy("runs_due_idx")}
        WHERE wake_at IS NOT NULL AND wake_at <= ${req.now}
          AND (lease_owner IS NULL OR lease_expires_at <= ${req.now})
          AND (lane_cap IS NULL OR status <> 'PENDING')
        ORDER BY priority DESC, created_at, id
        LIMIT ${req.limit}
        ${db.sql.skipLocked}`)}
      ${returning}`,
  ]);
  if (rows.length < req.limit && (await cappedRunsWaiting(db, req.now))) {
    rows.push(...(await claimCapped(db, req, expires, req.limit - rows.length, returning)));
  }
  const runs = rows.map((row) => toRunRecord(rawRun(row)));
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
    )) {
      const list = stepsByRun.get(step.runId) ?? [];
      list.push(step);
      stepsByRun.set(step.runId, list);
    }
  }
  const claimed = runs.map((run) => ({ runId: run.id, epoch: run.leaseEpoch, run, steps: stepsByRun.get(run.id) ?? [] }));
  // RETURNING gives no order; restore the pick order.
  claimed.sort(
    ({ run: a }, { run: b }) =>
      b.priority - a.priority || a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
  return claimed;
}

/** Whether any pending run of a capped lane is due and free: one probe of a (mostly empty) partial index. */
async function cappedRunsWaiting(db: Db, now: Date): Promise<boolean> {
  const rows = await db.read.$queryRaw<unknown[]>`${cappedCandidates(db, now, Prisma.sql`id`)} LIMIT 1`;
  return rows.length > 0;
}

/** Pending runs of capped lanes that are due and free to claim, read from their partial index. */
function cappedCandidates(db: Db, now: Date, columns: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`
    SELECT ${columns} FROM runs ${db.sql.indexedBy("runs_capped_pending_idx")}
    WHERE lane_cap IS NOT NULL AND status = 'PENDING' AND wake_at IS NOT NULL AND wake_at <= ${now}
      AND (lease_owner IS NULL OR lease_expires_at <= ${now})`;
}

/**
 * Claims pending runs of capped lanes (policy `laneConcurrency`), as many per lane as the
 * lane has free slots. The slots are counted from the runs themselves: those RUNNING, and
 * those PENDING under a live lease (claimed, their start not yet committed). Nothing is
 * counted separately, so nothing can leak. Claimers take turns (SQLite has one writer; on
 * PostgreSQL the lanes lock is held from the count to the commit), so two of them cannot
 * both fill the last slot. Each lane's runs are counted once per claim (not once per
 * candidate), and a candidate is taken when its place in its lane's queue, added to the
 * lane's count, is within its own run's cap.
 */
async function claimCapped(db: Db, req: ClaimRequest, expires: Date, limit: number, returning: Prisma.Sql) {
  const statement = (w: PrismaClient | Tx) => w.$queryRaw<Record<string, unknown>[]>`
    UPDATE runs SET lease_owner = ${req.owner}, lease_epoch = lease_epoch + 1, lease_expires_at = ${expires}
    WHERE ${db.sql.idIn(Prisma.sql`
      WITH candidates AS (${cappedCandidates(db, req.now, Prisma.sql`id, lane, lane_cap, priority, created_at`)}), active AS (
        SELECT o.lane, count(*) AS n FROM runs o
        WHERE o.lane IN (SELECT lane FROM candidates)
          AND (o.status = 'RUNNING' OR (o.status = 'PENDING' AND o.lease_owner IS NOT NULL AND o.lease_expires_at > ${req.now}))
        GROUP BY o.lane
      )
      SELECT id FROM (
        SELECT c.id, c.priority, c.created_at, c.lane_cap, COALESCE(a.n, 0) AS active,
          ROW_NUMBER() OVER (PARTITION BY c.lane ORDER BY c.priority DESC, c.created_at, c.id) AS place
        FROM candidates c LEFT JOIN active a ON a.lane = c.lane
      ) x
      WHERE active + place <= lane_cap
      ORDER BY priority DESC, created_at, id
      LIMIT ${limit}`)}
      AND status = 'PENDING' AND (lease_owner IS NULL OR lease_expires_at <= ${req.now})
    ${returning}`;
  const lock = db.sql.lanesLock;
  if (!lock) return (await db.writeBatch((w) => [statement(w)]))[0];
  return db.write(async (tx) => {
    await tx.$executeRaw(lock);
    return statement(tx);
  });
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
  const cutoff = lastClaimed
    ? Prisma.sql`AND (r.priority > c.priority OR (r.priority = c.priority AND (r.created_at < c.created_at
        OR (r.created_at = c.created_at AND r.id < c.id))))`
    : Prisma.empty;
  // runs_leased_idx holds only the runs in a tick right now, so this reads a handful of rows.
  const leased = db.sql.indexedBy("runs_leased_idx");
  const from = lastClaimed
    ? Prisma.sql`runs r ${leased}, (SELECT priority, created_at, id FROM runs WHERE id = ${lastClaimed}) c`
    : Prisma.sql`runs r ${leased}`;
  const rows = await db.read.$queryRaw<Array<{ n: number }>>`
    SELECT count(*) AS n FROM ${from}
    WHERE r.wake_at IS NOT NULL AND r.wake_at <= ${now}
      AND r.lease_owner IS NOT NULL AND r.lease_owner <> ${owner} AND r.lease_expires_at > ${now} ${cutoff}`;
  return Number(rows[0]?.n ?? 0);
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

/**
 * Pushes the expiry of leases this owner still holds to `expires` (a tick whose steps run
 * long). Returns the runs whose lease was renewed; a run missing from it was cancelled or
 * taken over, and nothing the tick does for it will commit.
 */
export async function extendLeases(db: Db, owner: string, claims: Claimed[], expires: Date): Promise<Set<string>> {
  if (claims.length === 0) return new Set();
  const { rows, text, int } = db.sql;
  const [renewed] = await db.writeBatch((w) => [
    w.$queryRaw<Array<{ id: string }>>`
      UPDATE runs SET lease_expires_at = ${expires}
      FROM ${rows(claims)}
      WHERE runs.id = ${text("runId")} AND runs.lease_owner = ${owner} AND runs.lease_epoch = ${int("epoch")}
      RETURNING runs.id`,
  ]);
  return new Set(renewed.map((r) => r.id));
}
