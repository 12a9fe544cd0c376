/** Event types a run's history may hold (API.md, "Event types"). */
export const EVENT_TYPES = [
  "run_created",
  "run_started",
  "run_succeeded",
  "run_failed",
  "run_cancelled",
  "step_started",
  "step_succeeded",
  "step_failed",
  "step_retrying",
  "step_skipped",
  "step_waiting",
  "step_cancelled",
  // A re-run took the step's output from the run it re-runs (data.fromRunId) instead of running it.
  "step_reused",
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** The events after which a run's history never grows. */
export const TERMINAL_EVENT_TYPES: ReadonlySet<string> = new Set<EventType>(["run_succeeded", "run_failed", "run_cancelled"]);

/** An event about to be appended: the store gives it its global id and its seq. */
export interface NewEvent {
  type: EventType;
  stepId: string | null;
  data: unknown;
  createdAt: Date;
}

/** An event as stored. `id` is the global position, `seq` the position within the run. */
export interface StoredEvent {
  id: number;
  runId: string;
  seq: number;
  type: string;
  stepId: string | null;
  data: unknown;
  createdAt: Date;
}
