/*
 * The pick order, and which runs it orders: one file, so that the claim, the probes beside
 * it and the sort after RETURNING say them the same way and cannot drift apart.
 *
 * The pick order (API.md, "Priority holds across lanes") is written once, here: highest
 * priority first, then oldest, then by id, whatever the run's lane.
 */
import { Prisma } from "../db.ts";
import type { RunRecord } from "../records.ts";

/** The pick order as SQL, for the rows of `alias` (or unqualified). */
export function pickOrder(alias = ""): Prisma.Sql {
  const p = alias ? `${alias}.` : "";
  return Prisma.raw(`${p}priority DESC, ${p}created_at, ${p}id`);
}

/** The pick order in JavaScript, for what the database hands back unordered (RETURNING). */
export function byPickOrder(a: RunRecord, b: RunRecord): number {
  return b.priority - a.priority || a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** `r` comes before `c` in the pick order (a row-value comparison both dialects run). */
export function aheadOf(r: string, c: string): Prisma.Sql {
  return Prisma.raw(`(-${r}.priority, ${r}.created_at, ${r}.id) < (-${c}.priority, ${c}.created_at, ${c}.id)`);
}

/** A run (of `alias`, or of the only table in scope) that is due and that nobody holds a live lease on. */
export function dueAndFree(alias: string | null, now: Date): Prisma.Sql {
  const a = Prisma.raw(alias ? `${alias}.` : "");
  return Prisma.sql`${a}wake_at IS NOT NULL AND ${a}wake_at <= ${now} AND (${a}lease_owner IS NULL OR ${a}lease_expires_at <= ${now})`;
}

/**
 * A run (of `alias`) that no pause holds back (API.md, "Pauses"): part of every claim's pick,
 * so a pause is honoured by the statement that takes the leases, on every process, with no
 * read of the pauses before it. The pauses table holds a handful of rows ('' is "any").
 *
 * Written as three uncorrelated NOT IN lists (lanes paused for every job type, job types
 * paused in every lane, lane and job type pairs), each read once per statement: as a
 * correlated NOT EXISTS, PostgreSQL, once it had statistics on the pauses table, planned the
 * claim as a scan and sort of every due run instead of a walk of runs_open_due_idx (60-570 ms a
 * claim at 50,000 due runs, against under a millisecond).
 */
export function notPaused(alias: string): Prisma.Sql {
  const a = alias;
  return Prisma.raw(
    `${a}.lane NOT IN (SELECT lane FROM pauses WHERE job_type = '')` +
      ` AND ${a}.job_type NOT IN (SELECT job_type FROM pauses WHERE lane = '')` +
      ` AND (${a}.lane, ${a}.job_type) NOT IN (SELECT lane, job_type FROM pauses WHERE lane <> '' AND job_type <> '')`,
  );
}
