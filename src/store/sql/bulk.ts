/*
 * The runs a bulk action or a retention pass works through, a page at a time: the filter
 * as SQL, the keyset walk over it, and the counts a dry run reports.
 */
import type { BulkFilter } from "../../domain/run-filter.ts";
import type { RunStatus } from "../../domain/status.ts";
import { type Db, Prisma } from "../db.ts";
import { toDateOrNull } from "../records.ts";

/** A run's place in the newest-first walk. */
export interface WalkCursor {
  createdAt: Date;
  id: string;
}

export interface MatchedRun {
  id: string;
  status: RunStatus;
  createdAt: Date;
  jobType: string;
  lane: string;
}

/** The filter's conditions (every one it sets), for the runs table unaliased. */
function filterSql(filter: BulkFilter, createdAtMost: Date): Prisma.Sql {
  const parts: Prisma.Sql[] = [Prisma.sql`created_at <= ${createdAtMost}`];
  if (filter.ids) parts.push(Prisma.sql`id IN (${Prisma.join(filter.ids)})`);
  if (filter.status) parts.push(Prisma.sql`status IN (${Prisma.join(filter.status)})`);
  if (filter.jobType !== null) parts.push(Prisma.sql`job_type = ${filter.jobType}`);
  if (filter.lane !== null) parts.push(Prisma.sql`lane = ${filter.lane}`);
  if (filter.createdAfter) parts.push(Prisma.sql`created_at > ${filter.createdAfter}`);
  if (filter.createdBefore) parts.push(Prisma.sql`created_at < ${filter.createdBefore}`);
  return Prisma.join(parts, " AND ");
}

/**
 * The next page of runs matching the filter, newest first, after `after`. `createdAtMost`
 * is the instant of the call: a run created while the action works through the pages is
 * not one it was asked to act on.
 */
export async function matchingRuns(
  db: Db,
  filter: BulkFilter,
  createdAtMost: Date,
  after: WalkCursor | null,
  limit: number,
): Promise<MatchedRun[]> {
  const keyset = after
    ? Prisma.sql`AND (created_at < ${after.createdAt} OR (created_at = ${after.createdAt} AND id < ${after.id}))`
    : Prisma.empty;
  const rows = await db.read.$queryRaw<Array<{ id: string; status: string; createdAt: unknown; jobType: string; lane: string }>>`
    SELECT id, status, created_at AS "createdAt", job_type AS "jobType", lane FROM runs
    WHERE ${filterSql(filter, createdAtMost)} ${keyset}
    ORDER BY created_at DESC, id DESC LIMIT ${limit}`;
  return rows.map((r) => ({ ...r, status: r.status as RunStatus, createdAt: toDateOrNull(r.createdAt) as Date }));
}

/** Of these runs, those that have been re-run (even if that re-run was pruned since). */
export async function withReruns(db: Db, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db.read.$queryRaw<Array<{ id: string }>>`
    SELECT id FROM runs WHERE id IN (${Prisma.join(ids)}) AND latest_rerun IS NOT NULL`;
  return new Set(rows.map((r) => r.id));
}

/** The re-runs of each of these runs, oldest first. */
export async function rerunsOf(db: Db, ids: readonly string[]): Promise<Map<string, string[]>> {
  const byRun = new Map<string, string[]>();
  if (ids.length === 0) return byRun;
  const rows = await db.read.$queryRaw<Array<{ id: string; rerunOf: string }>>`
    SELECT id, rerun_of AS "rerunOf" FROM runs WHERE rerun_of IN (${Prisma.join(ids)}) ORDER BY rerun_of, created_at, id`;
  for (const r of rows) {
    const list = byRun.get(r.rerunOf);
    if (list) list.push(r.id);
    else byRun.set(r.rerunOf, [r.id]);
  }
  return byRun;
}

/** How many steps each of these runs has, and how many bytes of artifacts. */
export async function runSizes(db: Db, ids: readonly string[]): Promise<Map<string, { steps: number; artifactBytes: number }>> {
  const sizes = new Map<string, { steps: number; artifactBytes: number }>();
  if (ids.length === 0) return sizes;
  const rows = await db.read.$queryRaw<Array<{ id: string; steps: number | bigint; bytes: number | bigint | null }>>`
    SELECT r.id, (SELECT count(*) FROM steps s WHERE s.run_id = r.id) AS steps,
      (SELECT sum(a.size) FROM artifacts a WHERE a.run_id = r.id) AS bytes
    FROM runs r WHERE r.id IN (${Prisma.join(ids)})`;
  for (const r of rows) sizes.set(r.id, { steps: Number(r.steps), artifactBytes: Number(r.bytes ?? 0) });
  return sizes;
}
