/*
 * Re-running: a new run made from a finished one (API.md, "rerunRun"), written in one
 * transaction with the original read and locked in it: the run row, its steps (those reused
 * already SUCCEEDED with the original's outputs), copies of the reused steps' artifacts, and
 * its first events. One file, because the read, the plan and the writes share that lock.
 */
import type { NewEvent } from "../../domain/event.ts";
import { type Db, Prisma, type Tx } from "../db.ts";
import { ms } from "../dialect.ts";
import { byRun, jsonOrNull, type NewRun, RUN_COLUMNS, type RunRecord, rawRun, type StepRecord, toRunRecord } from "../records.ts";
import { findSteps } from "../runs.ts";
import { appendEvents } from "./append-events.ts";

/** A step of a re-run as it is inserted: reused ones come SUCCEEDED with their output. */
export interface RerunStep {
  id: string;
  position: number;
  type: string;
  deps: string[];
  status: "PENDING" | "SUCCEEDED";
  output: unknown;
  startedAt: Date | null;
  finishedAt: Date | null;
}

/** A re-run as planned from its original: the new run (seq = its events), its steps, its events, the steps whose artifacts it takes. */
export interface PlannedRerun {
  run: NewRun & { rerunOf: string };
  steps: RerunStep[];
  events: NewEvent[];
  reusedStepIds: string[];
}

/** What re-running each original came to: its re-run, or why there is none. */
export type RerunOutcome =
  | { originalId: string; rerun: PlannedRerun }
  | { originalId: string; skipped: "missing" | "not-eligible" | "has-rerun" };

/**
 * Re-runs the given originals in one transaction. Each original is read and locked (so it
 * cannot be pruned, nor re-run by a concurrent bulk action, underneath); `plan` decides its
 * re-run, or null to skip it ("not-eligible"). With `skipRerun`, an original that already
 * has a re-run is skipped ("has-rerun"), read after the lock so a concurrent call's re-run
 * is seen (and one whose re-run was pruned since still counts: `latest_rerun` keeps it). `plan` may throw (an input the policy now refuses): nothing is written then.
 */
export async function insertReruns(
  db: Db,
  originalIds: readonly string[],
  options: { skipRerun: boolean },
  plan: (original: RunRecord, steps: StepRecord[]) => PlannedRerun | null,
): Promise<RerunOutcome[]> {
  if (originalIds.length === 0) return [];
  return db.write(async (tx) => {
    const rows = await tx.$queryRaw<Record<string, unknown>[]>`
      SELECT ${RUN_COLUMNS} FROM runs WHERE id IN (${Prisma.join(originalIds)}) ORDER BY id ${db.sql.forUpdate}`;
    const originals = new Map(rows.map((row) => [row.id as string, toRunRecord(rawRun(row), "now")]));
    const withRerun = new Set<string>();
    if (options.skipRerun && originals.size > 0) {
      // A statement of its own, after the lock: on PostgreSQL it sees a concurrent call's re-runs committed while this one waited.
      const found = await tx.$queryRaw<Array<{ id: string }>>`
        SELECT id FROM runs WHERE id IN (${Prisma.join([...originals.keys()])}) AND latest_rerun IS NOT NULL`;
      for (const f of found) withRerun.add(f.id);
    }
    const stepsByRun = byRun(await findSteps(tx, [...originals.keys()], "now"));
    const outcomes: RerunOutcome[] = originalIds.map((originalId) => {
      const original = originals.get(originalId);
      if (!original) return { originalId, skipped: "missing" };
      if (withRerun.has(originalId)) return { originalId, skipped: "has-rerun" };
      const rerun = plan(original, stepsByRun.get(originalId) ?? []);
      return rerun ? { originalId, rerun } : { originalId, skipped: "not-eligible" };
    });
    const reruns = outcomes.flatMap((o) => ("rerun" in o ? [o.rerun] : []));
    if (reruns.length > 0) await writeReruns(db, tx, reruns);
    return outcomes;
  });
}

async function writeReruns(db: Db, tx: Tx, reruns: PlannedRerun[]): Promise<void> {
  const { rows, text, int, time } = db.sql;
  const runs = reruns.map(({ run }) => ({
    ...run,
    graph: JSON.stringify(run.graph),
    params: JSON.stringify(run.params),
    policy: JSON.stringify(run.policy),
    createdAt: ms(run.createdAt),
    updatedAt: ms(run.updatedAt),
    wakeAt: ms(run.wakeAt),
  }));
  await tx.$executeRaw`INSERT INTO runs (id, mode, job_type, lane, requested_by, priority, status, graph, params,
      idempotency_key, input_hash, created_at, updated_at, seq, wake_at, policy, lane_cap, rerun_of)
    SELECT ${text("id")}, ${text("mode")}, ${text("jobType")}, ${text("lane")}, ${text("requestedBy")}, ${int("priority")},
      ${text("status")}, ${text("graph")}, ${text("params")}, NULL, ${text("inputHash")}, ${time("createdAt")}, ${time("updatedAt")},
      ${int("seq")}, ${time("wakeAt")}, ${text("policy")}, ${int("laneCap")}, ${text("rerunOf")}
    FROM ${rows(runs)} ORDER BY v.key`;
  const steps = reruns.flatMap(({ run, steps }) =>
    steps.map((s) => ({
      runId: run.id,
      id: s.id,
      position: s.position,
      type: s.type,
      deps: JSON.stringify(s.deps),
      status: s.status,
      output: jsonOrNull(s.output),
      startedAt: ms(s.startedAt),
      finishedAt: ms(s.finishedAt),
    })),
  );
  await tx.$executeRaw`INSERT INTO steps (run_id, id, position, type, deps, status, output, started_at, finished_at)
    SELECT ${text("runId")}, ${text("id")}, ${int("position")}, ${text("type")}, ${text("deps")}, ${text("status")},
      ${text("output")}, ${time("startedAt")}, ${time("finishedAt")}
    FROM ${rows(steps)}`;
  await tx.$executeRaw`UPDATE runs SET latest_rerun = ${text("id")}
    FROM ${rows(reruns.map(({ run }) => ({ id: run.id, originalId: run.rerunOf })))}
    WHERE runs.id = ${text("originalId")}`;
  // The reused steps' artifacts, copied: a re-run owns its whole history, so pruning its
  // original later changes nothing about it (API.md, "Retention").
  const reusing = reruns.flatMap(({ run, reusedStepIds }) =>
    reusedStepIds.map((stepId) => ({ runId: run.id, fromRunId: run.rerunOf, stepId })),
  );
  if (reusing.length > 0) {
    await tx.$executeRaw`INSERT INTO artifacts (run_id, step_id, name, content_type, size, sha256, content, created_at)
      SELECT ${text("runId")}, a.step_id, a.name, a.content_type, a.size, a.sha256, a.content, a.created_at
      FROM ${rows(reusing)} JOIN artifacts a ON a.run_id = ${text("fromRunId")} AND a.step_id = ${text("stepId")}
      ORDER BY v.key, a.id`;
  }
  // Last, as appendEvents takes the events lock, held from there to the commit.
  await appendEvents(
    db,
    tx,
    reruns.map(({ run, events }) => ({ runId: run.id, baseSeq: 0, events })),
  );
}
