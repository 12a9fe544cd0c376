/*
 * Signalling: delivering a payload to a step waiting for one, either completing the step
 * at once or leaving the payload for the tick that holds the run. One file, because which
 * of the two happens is decided on the run row it locks, in the same transaction.
 */
import type { RunChange } from "../../domain/change.ts";
import { stepTransition } from "../../domain/status.ts";
import type { Db } from "../db.ts";
import { RUN_COLUMNS, type RunRecord, rawRun, type StepRecord, toRunRecord } from "../records.ts";
import { findSteps } from "../runs.ts";
import { writeStepsAndEvents } from "./commit-changes.ts";

/** How signalRun's delivery went: completed at once, or left on the step for the tick holding the run's lease. */
export type SignalOutcome = "completed" | "left-for-tick";

/**
 * Delivers a signal to a step waiting for one, in one transaction that first locks the run.
 * `check` sees the run and the step (or undefined) and throws when they cannot take it.
 *
 * With no live lease on the run, the step succeeds now with the payload as its output
 * (`step_succeeded`, in seq order with everything else) and the run is due for the next
 * tick. While a tick holds the lease it owns the run's seq, so the payload is left on the
 * step instead; that tick's commit sees it and makes the run due, and the next tick
 * completes the step the same way.
 */
export async function deliverSignal(
  db: Db,
  runId: string,
  stepId: string,
  payload: unknown,
  now: Date,
  check: (run: RunRecord | null, step: StepRecord | undefined) => void,
): Promise<SignalOutcome> {
  return db.write(async (tx) => {
    const rows = await tx.$queryRaw<Record<string, unknown>[]>`SELECT ${RUN_COLUMNS} FROM runs WHERE id = ${runId} ${db.sql.forUpdate}`;
    const run = rows[0] ? toRunRecord(rawRun(rows[0])) : null;
    const step = run ? (await findSteps(tx, [runId])).find((s) => s.id === stepId) : undefined;
    check(run, step);
    if (!run || !step) throw new Error("check must refuse a missing run or step");
    const signal = JSON.stringify(payload ?? null);
    if (run.leaseOwner !== null && run.leaseExpiresAt !== null && run.leaseExpiresAt > now) {
      await tx.$executeRaw`UPDATE steps SET signal = ${signal}, signalled_at = ${now} WHERE run_id = ${runId} AND id = ${stepId}`;
      return "left-for-tick";
    }
    const change: RunChange = {
      runId,
      owner: "",
      epoch: run.leaseEpoch,
      baseSeq: run.seq,
      run: { status: run.status, startedAt: run.startedAt, finishedAt: run.finishedAt, updatedAt: now, wakeAt: now },
      steps: [
        {
          ...step,
          status: stepTransition(`run "${runId}" step "${stepId}"`, step.status, "SUCCEEDED"),
          output: payload ?? null,
          finishedAt: now,
          wakeAt: null,
        },
      ],
      events: [{ type: "step_succeeded", stepId, data: { attempt: step.attempts, signalled: true }, createdAt: now }],
    };
    await tx.$executeRaw`UPDATE runs SET seq = ${run.seq + 1}, updated_at = ${now}, wake_at = ${now} WHERE id = ${runId}`;
    await tx.$executeRaw`UPDATE steps SET signal = ${signal}, signalled_at = ${now} WHERE run_id = ${runId} AND id = ${stepId}`;
    await writeStepsAndEvents(db, tx, [change]);
    return "completed";
  });
}
