/*
 * Retention: deleting finished runs with everything they own (steps, events, artifacts go
 * with the run row: ON DELETE CASCADE), a batch per transaction, and counting what a prune
 * would delete. One file, because both select the runs by the same condition.
 */
import type { RunStatus } from "../../domain/status.ts";
import { type Db, Prisma } from "../db.ts";
import type { Dialect } from "../dialect.ts";

/** Which finished runs to prune. */
export interface PruneScope {
  /** Runs that finished strictly before this instant. */
  finishedBefore: Date;
  /** Terminal statuses only. */
  statuses: readonly RunStatus[];
  /** Only this job type; or, with `exceptJobTypes`, every job type but these. */
  jobType?: string;
  exceptJobTypes?: readonly string[];
}

export interface PruneCounts {
  runs: number;
  events: number;
  artifacts: number;
}

/**
 * A batch's rows are locked as they are picked; on PostgreSQL those another transaction
 * holds (a re-run reading its original, a concurrent prune) are passed over, not waited for,
 * and are pruned by a later batch.
 */
const pickLock: { readonly [name in Dialect["name"]]: Prisma.Sql } = {
  sqlite: Prisma.empty,
  postgres: Prisma.raw("FOR UPDATE SKIP LOCKED"),
};

function scopeSql(scope: PruneScope): Prisma.Sql {
  const parts = [
    // finished_at is set exactly when a run is terminal; runs_finished_idx holds those.
    Prisma.sql`finished_at IS NOT NULL AND finished_at < ${scope.finishedBefore}`,
    Prisma.sql`status IN (${Prisma.join([...scope.statuses])})`,
  ];
  if (scope.jobType !== undefined) parts.push(Prisma.sql`job_type = ${scope.jobType}`);
  if (scope.exceptJobTypes && scope.exceptJobTypes.length > 0) {
    parts.push(Prisma.sql`job_type NOT IN (${Prisma.join([...scope.exceptJobTypes])})`);
  }
  return Prisma.join(parts, " AND ");
}

/**
 * Deletes up to `limit` of the runs in scope, oldest finished first, in one transaction, and
 * no more of them than hold `maxEvents` events together (at least one run): a run's events
 * outnumber its steps, so this bounds every table's deletes, whatever the graphs' size.
 * Returns what it deleted.
 */
export async function pruneBatch(db: Db, scope: PruneScope, limit: number, maxEvents: number): Promise<PruneCounts> {
  return db.write(async (tx) => {
    // runs_finished_idx, named: for a list of statuses SQLite's planner took the status index and
    // sorted every finished run for each batch's ORDER BY ... LIMIT.
    const candidates = await tx.$queryRaw<Array<{ id: string; seq: number | bigint }>>`
      SELECT id, seq FROM runs ${db.sql.indexedBy("runs_finished_idx")} WHERE ${scopeSql(scope)} ORDER BY finished_at LIMIT ${limit} ${pickLock[db.dialect]}`;
    if (candidates.length === 0) return { runs: 0, events: 0, artifacts: 0 };
    let events = 0;
    const picked = candidates.filter((c, i) => {
      events += Number(c.seq);
      return i === 0 || events <= maxEvents;
    });
    const ids = Prisma.join(picked.map((p) => p.id));
    const [counted] = await tx.$queryRaw<Array<{ n: number | bigint }>>`SELECT count(*) AS n FROM artifacts WHERE run_id IN (${ids})`;
    const runs = await tx.$executeRaw`DELETE FROM runs WHERE id IN (${ids})`;
    // A run's seq is its number of events (gapless from 1), so they need no count of their own.
    return { runs, events: picked.reduce((n, p) => n + Number(p.seq), 0), artifacts: Number(counted?.n ?? 0) };
  });
}

/** What pruning the scope would delete right now. */
export async function countPrunable(db: Db, scope: PruneScope): Promise<PruneCounts> {
  const where = scopeSql(scope);
  const [[runs], [artifacts]] = await Promise.all([
    db.read.$queryRaw<Array<{ n: number | bigint; e: number | bigint | null }>>`
      SELECT count(*) AS n, sum(seq) AS e FROM runs WHERE ${where}`,
    db.read.$queryRaw<Array<{ n: number | bigint }>>`
      SELECT count(*) AS n FROM artifacts WHERE run_id IN (SELECT id FROM runs WHERE ${where})`,
  ]);
  return { runs: Number(runs?.n ?? 0), events: Number(runs?.e ?? 0), artifacts: Number(artifacts?.n ?? 0) };
}
