/*
 * Pauses (API.md, "Pauses"): the rows the claim checks (pick-order.ts, notPaused), and
 * setting and lifting them. "" in a column stands for "any"; here it becomes null.
 */
import type { PauseScope } from "../../domain/waiting.ts";
import type { Db } from "../db.ts";

const ANY = "";

function toScope(row: { lane: string; jobType: string; pausedAt: Date; reason: string | null }): PauseScope {
  return {
    lane: row.lane === ANY ? null : row.lane,
    jobType: row.jobType === ANY ? null : row.jobType,
    pausedAt: row.pausedAt,
    reason: row.reason,
  };
}

/** Every pause, oldest first. */
export async function listPauses(db: Db): Promise<PauseScope[]> {
  const rows = await db.read.pause.findMany({ orderBy: [{ pausedAt: "asc" }, { lane: "asc" }, { jobType: "asc" }] });
  return rows.map(toScope);
}

/**
 * Pauses the lane and/or job type. Pausing what is paused already keeps its pausedAt and
 * takes the new reason when one is given.
 */
export async function setPause(db: Db, lane: string | null, jobType: string | null, reason: string | null, now: Date): Promise<PauseScope> {
  const key = { lane: lane ?? ANY, jobType: jobType ?? ANY };
  const [row] = await db.writeBatch((w) => [
    w.pause.upsert({
      where: { lane_jobType: key },
      create: { ...key, pausedAt: now, reason },
      update: reason === null ? {} : { reason },
    }),
  ]);
  return toScope(row);
}

/** Lifts exactly the pause of this lane and job type; false when there was none. */
export async function liftPause(db: Db, lane: string | null, jobType: string | null): Promise<boolean> {
  const [deleted] = await db.writeBatch((w) => [w.pause.deleteMany({ where: { lane: lane ?? ANY, jobType: jobType ?? ANY } })]);
  return deleted.count > 0;
}
