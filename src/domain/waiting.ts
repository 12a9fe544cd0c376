/*
 * Why a run is not moving (API.md, "waiting"), derived from its state every time it is
 * asked for: nothing is stored, so nothing can drift from what the claim will do.
 */
import { waitsForSignal } from "./change.ts";
import { isTerminalRun, type RunStatus, type StepStatus } from "./status.ts";

export const WAIT_REASONS = [
  "QUEUED",
  "LEASED",
  "LANE_CAP",
  "CONCURRENCY_KEY",
  "RATE_LIMIT",
  "PAUSED",
  "TIMER",
  "RETRY_BACKOFF",
  "SIGNAL",
  "TASK",
  "CHILD_RUN",
] as const;
export type WaitReason = (typeof WAIT_REASONS)[number];

export interface Waiting {
  reason: WaitReason;
  /** When the wait ends by itself, where there is such a time. */
  until: Date | null;
  /** One sentence for a person. */
  detail: string;
}

export interface WaitingRun {
  id: string;
  status: RunStatus;
  lane: string;
  jobType: string;
  wakeAt: Date | null;
  leaseOwner: string | null;
  leaseExpiresAt: Date | null;
  laneCap: number | null;
  commitFailures: number;
}

export interface WaitingStep {
  id: string;
  type: string;
  status: StepStatus;
  attempts: number;
  wakeAt: Date | null;
  error: string | null;
  signalledAt: Date | null;
}

/** A pause as the check sees it: null stands for "any". */
export interface PauseScope {
  lane: string | null;
  jobType: string | null;
  pausedAt: Date;
  reason: string | null;
}

export interface WaitingFacts {
  now: Date;
  pauses: readonly PauseScope[];
  /** Runs of the run's lane that hold a slot of its cap (RUNNING, or claimed and not yet started). */
  laneLoad: number;
  /** The lease's holder is alive and working on the run (a worker with a fresh heartbeat, or this process). */
  holderAlive: boolean;
  /** A worker with a fresh heartbeat exists anywhere. */
  anyWorker: boolean;
  /** The caller may read admin-only facts: a pause's reason, a lease holder's name. */
  admin: boolean;
}

/** The pause that holds runs of this lane and job type back, if any (the oldest one). */
export function pauseOf(run: { lane: string; jobType: string }, pauses: readonly PauseScope[]): PauseScope | null {
  return pauses.find((p) => (p.lane === null || p.lane === run.lane) && (p.jobType === null || p.jobType === run.jobType)) ?? null;
}

/** Why the run does not move; null when it is terminal or being advanced right now. */
export function whyWaiting(run: WaitingRun, steps: readonly WaitingStep[], facts: WaitingFacts): Waiting | null {
  if (isTerminalRun(run.status)) return null;
  const { now } = facts;
  if (run.leaseOwner !== null && run.leaseExpiresAt !== null && run.leaseExpiresAt > now) {
    if (facts.holderAlive) return null;
    return {
      reason: "LEASED",
      until: run.leaseExpiresAt,
      detail: `A worker${facts.admin ? ` (${run.leaseOwner})` : ""} that has stopped or is no longer heard from holds its lease; another may take the run when the lease runs out at ${iso(run.leaseExpiresAt)}.`,
    };
  }
  const awaitingSignal = steps.filter((s) => waitsForSignal(s) && s.signalledAt === null);
  if (run.wakeAt === null) {
    if (awaitingSignal.length > 0) return signalWait(awaitingSignal, null);
    return {
      reason: "RETRY_BACKOFF",
      until: null,
      detail: `Nothing is scheduled for it: its changes were refused by the database ${run.commitFailures} times and failing it was refused too, so it waits for an operator to cancel it.`,
    };
  }
  if (run.wakeAt > now) {
    if (run.commitFailures > 0) {
      return {
        reason: "RETRY_BACKOFF",
        until: run.wakeAt,
        detail: `The database refused its last ${plural(run.commitFailures, "commit")} in a row; it is tried again at ${iso(run.wakeAt)}.`,
      };
    }
    // The step whose timer wakes the run first explains the wait.
    const timed = steps
      .filter((s) => s.status === "WAITING" && s.wakeAt !== null)
      .sort((a, b) => (a.wakeAt as Date).getTime() - (b.wakeAt as Date).getTime())[0];
    if (timed?.error != null) {
      return {
        reason: "RETRY_BACKOFF",
        until: timed.wakeAt,
        detail: `Step "${timed.id}" failed attempt ${timed.attempts} (${clip(timed.error)}) and is tried again at ${iso(timed.wakeAt as Date)}.`,
      };
    }
    if (timed && timed.type === "approval") return signalWait([timed], timed.wakeAt);
    if (timed) {
      return { reason: "TIMER", until: timed.wakeAt, detail: `Step "${timed.id}" waits on a timer until ${iso(timed.wakeAt as Date)}.` };
    }
    return { reason: "TIMER", until: run.wakeAt, detail: `It is due again at ${iso(run.wakeAt)}.` };
  }
  const pause = pauseOf(run, facts.pauses);
  if (pause) {
    const what = [pause.lane !== null ? `lane "${pause.lane}"` : null, pause.jobType !== null ? `job type "${pause.jobType}"` : null]
      .filter(Boolean)
      .join(" and ");
    return {
      reason: "PAUSED",
      until: null,
      detail: `${capitalize(what)} ${pause.lane !== null && pause.jobType !== null ? "are" : "is"} paused since ${iso(pause.pausedAt)}${facts.admin && pause.reason ? ` (${clip(pause.reason)})` : ""}; it goes on after resume.`,
    };
  }
  if (run.status === "PENDING" && run.laneCap !== null && facts.laneLoad >= run.laneCap) {
    return {
      reason: "LANE_CAP",
      until: null,
      detail: `Lane "${run.lane}" is full: ${facts.laneLoad} of its cap of ${run.laneCap} running ${run.laneCap === 1 ? "run" : "runs"} (laneConcurrency in the policy of job type "${run.jobType}").`,
    };
  }
  return {
    reason: "QUEUED",
    until: null,
    detail: facts.anyWorker
      ? `Due since ${iso(run.wakeAt)}, waiting for its turn with a worker.`
      : `Due since ${iso(run.wakeAt)}, but no worker is running (start one with FORGE_WORKER_ENABLED=true, or call tickOnce).`,
  };
}

function signalWait(steps: readonly WaitingStep[], until: Date | null): Waiting {
  const names = steps.map((s) => `"${s.id}"`);
  const who = names.length === 1 ? `Step ${names[0]} waits` : `Steps ${names.join(", ")} wait`;
  return {
    reason: "SIGNAL",
    until,
    detail: `${who} for a signal (signalRun)${until ? `, until ${iso(until)} when it times out` : ""}.`,
  };
}

const iso = (d: Date) => d.toISOString();
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
/** Long texts (errors, reasons) cut to keep the sentence a sentence. */
const clip = (s: string) => (s.length > 120 ? `${s.slice(0, 117)}...` : s);
