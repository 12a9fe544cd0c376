import { type PlannedStep, stepUpdate } from "./change.ts";
import type { NewEvent } from "./event.ts";
import { isTerminalRun, isTerminalStep, type RunStatus, runTransition, stepTransition } from "./status.ts";

interface RunState {
  id: string;
  status: RunStatus;
  startedAt: Date | null;
  finishedAt: Date | null;
}

/**
 * What failing a run that cannot make progress changes: its changes were refused by the
 * database on every try (or advancing it kept failing), so it is FAILED instead of being
 * retried forever. Planned from the run as stored, since none of the refused changes
 * landed: every unfinished step ends (a step that was waiting FAILED with the reason, one
 * that never started SKIPPED), then `run_failed` with `data.reason`.
 *
 * A run that is already terminal but still due (a state only a bug or a hand edit can
 * make) has nothing left to fail: it only stops being picked.
 */
export function planGiveUp(
  run: RunState,
  steps: PlannedStep[],
  reason: string,
  now: Date,
  options: { withSteps: boolean } = { withSteps: true },
) {
  if (isTerminalRun(run.status)) {
    return {
      run: { status: run.status, startedAt: run.startedAt, finishedAt: run.finishedAt, updatedAt: now, wakeAt: null },
      steps: [],
      events: [],
    };
  }
  const events: NewEvent[] = [];
  // Without its steps: the fallback when the database refuses those too (they keep their
  // statuses; the run and its run_failed say why).
  const ended = (options.withSteps ? steps : [])
    .filter((s) => !isTerminalStep(s.status))
    .sort((a, b) => a.position - b.position)
    .map((s) => {
      const to = s.status === "PENDING" ? "SKIPPED" : "FAILED";
      const status = stepTransition(`run "${run.id}" step "${s.id}"`, s.status, to);
      events.push(
        to === "SKIPPED"
          ? { type: "step_skipped", stepId: s.id, data: { reason: "the run failed before this step could run" }, createdAt: now }
          : { type: "step_failed", stepId: s.id, data: { attempt: s.attempts, error: reason }, createdAt: now },
      );
      return { ...s, status, error: to === "FAILED" ? reason : s.error, finishedAt: now, wakeAt: null };
    });
  const failedSteps = ended.filter((s) => s.status === "FAILED").map((s) => s.id);
  events.push({ type: "run_failed", stepId: null, data: { reason, failedSteps }, createdAt: now });
  return {
    run: {
      status: runTransition(`run "${run.id}"`, run.status, "FAILED"),
      startedAt: run.startedAt,
      finishedAt: now,
      updatedAt: now,
      wakeAt: null,
    },
    steps: ended.map(stepUpdate),
    events,
  };
}
