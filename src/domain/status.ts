/**
 * The status machines of runs and steps, written down once.
 *
 * Run:  PENDING -> RUNNING -> SUCCEEDED | FAILED
 *       PENDING | RUNNING -> CANCELLED
 *       PENDING -> FAILED (its first tick could never be committed: see domain/give-up.ts)
 * Step: PENDING -> RUNNING -> SUCCEEDED | FAILED
 *       RUNNING -> WAITING -> RUNNING (timers, retries, approvals)
 *       WAITING -> SUCCEEDED (a signal delivered while no tick holds the run)
 *       WAITING -> FAILED (a run given up on: domain/give-up.ts)
 *       PENDING -> SKIPPED (a dependency failed for good)
 *       PENDING | RUNNING | WAITING -> CANCELLED
 */
export const RUN_STATUSES = ["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export const STEP_STATUSES = ["PENDING", "RUNNING", "WAITING", "SUCCEEDED", "FAILED", "SKIPPED", "CANCELLED"] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

export const RUN_MODES = ["DRY_RUN", "LIVE"] as const;
export type RunMode = (typeof RUN_MODES)[number];

const RUN_TRANSITIONS: Record<RunStatus, readonly RunStatus[]> = {
  PENDING: ["RUNNING", "FAILED", "CANCELLED"],
  RUNNING: ["SUCCEEDED", "FAILED", "CANCELLED"],
  SUCCEEDED: [],
  FAILED: [],
  CANCELLED: [],
};

const STEP_TRANSITIONS: Record<StepStatus, readonly StepStatus[]> = {
  PENDING: ["RUNNING", "SKIPPED", "CANCELLED"],
  RUNNING: ["SUCCEEDED", "FAILED", "WAITING", "CANCELLED"],
  WAITING: ["RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"],
  SUCCEEDED: [],
  FAILED: [],
  SKIPPED: [],
  CANCELLED: [],
};

export function canTransitionRun(from: RunStatus, to: RunStatus): boolean {
  return RUN_TRANSITIONS[from].includes(to);
}

export function canTransitionStep(from: StepStatus, to: StepStatus): boolean {
  return STEP_TRANSITIONS[from].includes(to);
}

export function isTerminalRun(status: RunStatus): boolean {
  return RUN_TRANSITIONS[status].length === 0;
}

export function isTerminalStep(status: StepStatus): boolean {
  return STEP_TRANSITIONS[status].length === 0;
}

/**
 * A change the status machine does not allow was about to be written: a bug in the engine,
 * caught before it reaches the database instead of left for someone to notice.
 */
export class InvalidTransition extends Error {
  constructor(what: string, from: string, to: string) {
    super(`${what}: ${from} -> ${to} is not a transition the status machine allows`);
    this.name = "InvalidTransition";
  }
}

/** Every change of a run's status goes through here. `what` names the run in the error. */
export function runTransition(what: string, from: RunStatus, to: RunStatus): RunStatus {
  if (!canTransitionRun(from, to)) throw new InvalidTransition(what, from, to);
  return to;
}

/** Every change of a step's status goes through here. `what` names the step in the error. */
export function stepTransition(what: string, from: StepStatus, to: StepStatus): StepStatus {
  if (!canTransitionStep(from, to)) throw new InvalidTransition(what, from, to);
  return to;
}

export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${String(value)}`);
}
