import { type PlannedStep, stepUpdate } from "./change.ts";
import type { NewEvent } from "./event.ts";
import { isTerminalRun, isTerminalStep, type RunStatus, runTransition, stepTransition } from "./status.ts";

interface RunState {
  id?: string;
  status: RunStatus;
  startedAt: Date | null;
}

/**
 * What cancelling a run changes: every unfinished step becomes CANCELLED (each with its
 * `step_cancelled`, in step order), then the run, whose `run_cancelled` is its last event.
 * Null for a run that is already terminal: cancelling it changes nothing.
 */
export function planCancel(run: RunState, steps: PlannedStep[], now: Date) {
  if (isTerminalRun(run.status)) return null;
  const what = `run "${run.id ?? "?"}"`;
  const cancelled = steps
    .filter((s) => !isTerminalStep(s.status))
    .sort((a, b) => a.position - b.position)
    .map((s) => ({ ...s, status: stepTransition(`${what} step "${s.id}"`, s.status, "CANCELLED"), finishedAt: now, wakeAt: null }));
  const events: NewEvent[] = cancelled.map((s) => ({ type: "step_cancelled", stepId: s.id, data: null, createdAt: now }));
  events.push({ type: "run_cancelled", stepId: null, data: { cancelledSteps: cancelled.map((s) => s.id) }, createdAt: now });
  return {
    run: { status: runTransition(what, run.status, "CANCELLED"), startedAt: run.startedAt, finishedAt: now, updatedAt: now, wakeAt: null },
    steps: cancelled.map(stepUpdate),
    events,
  };
}
