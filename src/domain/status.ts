/**
 * The status machines of runs and steps, written down once.
 *
 * Run:  PENDING -> RUNNING -> SUCCEEDED | FAILED
 *       PENDING | RUNNING -> CANCELLED
 * Step: PENDING -> RUNNING -> SUCCEEDED | FAILED
 *       RUNNING -> WAITING -> RUNNING (timers, retries, approvals)
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
  PENDING: ["RUNNING", "CANCELLED"],
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

export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${String(value)}`);
}
