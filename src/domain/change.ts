import type { NewEvent } from "./event.ts";
import type { RunStatus, StepStatus } from "./status.ts";

/** A step's state after a change, as it is written back. */
export interface StepUpdate {
  id: string;
  status: StepStatus;
  attempts: number;
  startedAt: Date | null;
  finishedAt: Date | null;
  output: unknown;
  error: string | null;
  /** While WAITING on a timer: when the step is due again. */
  wakeAt: Date | null;
}

/**
 * Everything one change (a tick, a cancellation) does to one run, committed atomically:
 * the run's new state, its changed steps, and the events that record them.
 */
export interface RunChange {
  runId: string;
  /** The lease the change is written under (a tick), or the one it overrides (a cancellation). */
  owner: string;
  epoch: number;
  /** The run's seq when the change was planned; its events take the next numbers. */
  baseSeq: number;
  run: { status: RunStatus; startedAt: Date | null; finishedAt: Date | null; updatedAt: Date; wakeAt: Date | null };
  steps: StepUpdate[];
  events: NewEvent[];
  /** Artifacts the change's steps wrote, stored in the same transaction. */
  artifacts?: NewArtifact[];
  /**
   * Some step is left waiting for a signal. A signal delivered while the change was being
   * made (the run was leased, so signalRun could only leave it on the step) makes the
   * commit mark the run due again.
   */
  awaitsSignal?: boolean;
}

/** An artifact as a step wrote it (API.md, "Artifacts"). */
export interface NewArtifact {
  stepId: string | null;
  name: string;
  contentType: string;
  size: number;
  sha256: string;
  content: string;
  createdAt: Date;
}

/** A stored step as a planner outside the tick (a cancellation, giving up) sees it: its state and its place in the run's order. */
export type PlannedStep = StepUpdate & { position: number };

/** The written part of a step, without whatever else the planner kept on it. */
export function stepUpdate({ id, status, attempts, startedAt, finishedAt, output, error, wakeAt }: StepUpdate): StepUpdate {
  return { id, status, attempts, startedAt, finishedAt, output, error, wakeAt };
}

/**
 * A step waiting for a signal (an approval): WAITING with no wake time, and not after a
 * failed attempt (a retry's wait always has a wake time, and keeps its error).
 */
export function waitsForSignal(step: Pick<StepUpdate, "status" | "wakeAt" | "error">): boolean {
  return step.status === "WAITING" && step.wakeAt === null && step.error === null;
}
