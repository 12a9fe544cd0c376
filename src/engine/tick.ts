import type { Span } from "@opentelemetry/api";
import { type NewArtifact, type RunChange, type StepUpdate, stepUpdate, waitsForSignal } from "../domain/change.ts";
import type { NewEvent } from "../domain/event.ts";
import { backoffDelay, DEFAULT_RETRY } from "../domain/graph.ts";
import {
  InvalidTransition,
  isTerminalRun,
  isTerminalStep,
  type RunStatus,
  runTransition,
  type StepStatus,
  stepTransition,
} from "../domain/status.ts";
import type { ForgeMetrics, StepOutcome } from "../ops/metrics.ts";
import { endSpan, type Tracing } from "../ops/tracing.ts";
import type { RunRecord, StepRecord } from "../store/records.ts";
import { type AttemptContext, type AttemptResult, runAttempt } from "./attempt.ts";

/**
 * Advancing one run, in memory, under a lease the caller holds. Nothing here touches the
 * database: the result is a RunChange the scheduler commits (fenced by the lease) together
 * with other runs' changes. A run goes as far as it can without waiting: steps whose deps
 * have all succeeded run (concurrently, wave by wave) until none is left or the step
 * budget is spent, so an all-noop graph of any depth finishes in one tick.
 */
export interface TickContext extends AttemptContext {
  owner: string;
  epoch: number;
  /** Most step attempts one tick makes for one run; the rest waits for the next tick. */
  stepBudget: number;
  /** Attempts of the run in flight at once: fan-out runs concurrently, but a 1,000-wide wave does not open 1,000 requests. */
  stepConcurrency: number;
  /** Where attempts are counted (forge_step_attempts_total, forge_step_duration_seconds). */
  metrics: ForgeMetrics;
  /** With tracing on: the tracer and this run's tick span, the parent of each attempt's. */
  trace: { tracing: Tracing; runTick: Span } | null;
  /**
   * True once the run's lane or job type was paused while this tick holds it (the lease
   * keeper looks at each renewal): the steps in flight finish, no new wave starts, and the
   * run is committed due, to wait in the queue until resume.
   */
  held?: () => boolean;
}

export type TickOutcome = "succeeded" | "failed" | "progressed";

export interface AdvancedRun {
  change: RunChange;
  outcome: TickOutcome;
}

type MutableStep = StepUpdate & {
  deps: string[];
  type: string;
  position: number;
  signalledAt: Date | null;
  signal: unknown;
  changed: boolean;
};

export async function advanceRun(run: RunRecord, stepRows: StepRecord[], ctx: TickContext): Promise<AdvancedRun> {
  const events: NewEvent[] = [];
  const emit = (type: NewEvent["type"], stepId: string | null, data: unknown = null) =>
    events.push({ type, stepId, data, createdAt: ctx.clock.now() });
  const steps = new Map<string, MutableStep>(stepRows.map((s) => [s.id, { ...s, changed: false }]));
  const artifacts: NewArtifact[] = [];
  const ordered = [...steps.values()].sort((a, b) => a.position - b.position);
  const runState = { status: run.status, startedAt: run.startedAt, finishedAt: run.finishedAt };
  // Every status change goes through the status machine (domain/status.ts): a move it does
  // not allow is a bug, and fails the advance instead of reaching the database.
  const moveRun = (to: RunStatus) => {
    runState.status = runTransition(`run "${run.id}"`, runState.status, to);
  };
  const moveStep = (step: MutableStep, to: StepStatus) => {
    step.status = stepTransition(`run "${run.id}" step "${step.id}"`, step.status, to);
  };

  // A finished run has no move left: one that is due anyway (only a bug or a hand edit makes
  // one) fails its advance here, before any handler runs.
  if (isTerminalRun(run.status)) throw new InvalidTransition(`run "${run.id}"`, run.status, "(a tick)");
  if (runState.status === "PENDING") {
    moveRun("RUNNING");
    runState.startedAt = ctx.clock.now();
    emit("run_started", null);
  }

  // Deps not yet succeeded, per step, and who waits on whom: each wave costs only the
  // edges of the steps it finished, so a dense 1,000-step graph ticks in linear time.
  const unmet = new Map<string, number>();
  const dependents = new Map<string, MutableStep[]>();
  for (const step of ordered) {
    unmet.set(step.id, step.deps.filter((d) => steps.get(d)?.status !== "SUCCEEDED").length);
    for (const dep of step.deps) {
      const list = dependents.get(dep);
      if (list) list.push(step);
      else dependents.set(dep, [step]);
    }
  }
  // Ready: PENDING with every dep succeeded, or WAITING on a timer that has come due or for a signal that came.
  const isDue = (s: MutableStep) =>
    s.status === "WAITING" && (s.signalledAt !== null || (s.wakeAt !== null && s.wakeAt.getTime() <= ctx.clock.now().getTime()));
  let ready = ordered.filter((s) => (s.status === "PENDING" && unmet.get(s.id) === 0) || isDue(s));

  let budget = ctx.stepBudget;
  while (budget > 0 && ready.length > 0 && !ctx.signal.aborted && !ctx.held?.()) {
    const wave = ready.slice(0, budget);
    budget -= wave.length;
    const resumed = new Map<MutableStep, Date | null>();
    for (const step of wave) {
      // A step waiting after a failed attempt (it keeps that attempt's error) starts a new
      // attempt; one that asked to wait (a sleep, a signal) resumes the attempt it is in.
      const resumesWait = step.status === "WAITING" && step.error === null;
      resumed.set(step, resumesWait ? step.wakeAt : null);
      moveStep(step, "RUNNING");
      step.wakeAt = null;
      step.changed = true;
      if (!resumesWait) {
        step.attempts += 1;
        step.error = null;
        step.startedAt = ctx.clock.now();
        emit("step_started", step.id, { attempt: step.attempts });
      }
    }
    // The attempt boundary (attempt.ts) never rejects, and hands back only what can be stored.
    const spans = new Map<MutableStep, Span>();
    const results = await mapWithLimit(wave, ctx.stepConcurrency, (step) => {
      const traced = ctx.trace;
      if (!traced) return runAttempt(run, step, depOutputsOf(step, steps), resumed.get(step) ?? null, ctx);
      const span = traced.tracing.startAttempt(traced.runTick, {
        runId: run.id,
        stepId: step.id,
        stepType: step.type,
        attempt: step.attempts,
      });
      spans.set(step, span);
      return runAttempt(run, step, depOutputsOf(step, steps), resumed.get(step) ?? null, ctx, () => traced.tracing.headersOf(span));
    });
    // Counted (and each span ended) once the attempt's outcome is known, retries decided below.
    const ended = (step: MutableStep, result: AttemptResult, outcome: StepOutcome) => {
      ctx.metrics.stepAttempt(step.type, outcome, result.seconds);
      const span = spans.get(step);
      if (span) endSpan(span, outcome, result.status === "failed" ? result.error : undefined);
    };
    const signalled = new Set(wave.filter((s) => s.signalledAt !== null));
    const unlocked: MutableStep[] = [];
    const retryNow: MutableStep[] = [];
    results.forEach((result, i) => {
      const step = wave[i] as MutableStep;
      if (result.status === "waiting") {
        const { until, data } = result;
        artifacts.push(...result.artifacts);
        moveStep(step, "WAITING");
        step.wakeAt = until;
        emit("step_waiting", step.id, { ...data, attempt: step.attempts, until: until?.toISOString() ?? null });
        ended(step, result, "waiting");
        if (isDue(step)) retryNow.push(step);
        return;
      }
      step.finishedAt = ctx.clock.now();
      if (result.status === "succeeded") {
        moveStep(step, "SUCCEEDED");
        step.output = result.output;
        artifacts.push(...result.artifacts);
        emit("step_succeeded", step.id, signalled.has(step) ? { attempt: step.attempts, signalled: true } : { attempt: step.attempts });
        ended(step, result, "succeeded");
        for (const next of dependents.get(step.id) ?? []) {
          const left = (unmet.get(next.id) as number) - 1;
          unmet.set(next.id, left);
          if (left === 0 && next.status === "PENDING") unlocked.push(next);
        }
        return;
      }
      const { error } = result;
      const cutShort = result.cut === "timed_out" ? "timed_out" : result.cut === "stopped" ? "cancelled" : null;
      // The graph's retry (complete once validated) wins over the policy's default.
      const retry = { ...DEFAULT_RETRY, ...run.policy.defaultRetry, ...run.graph.steps[step.id]?.retry };
      if (step.attempts < retry.maxAttempts && !result.permanent) {
        // Durable backoff: the step waits with a wake time, not a timer in this process.
        const nextAttemptAt = new Date(ctx.clock.now().getTime() + backoffDelay(retry, step.attempts));
        moveStep(step, "WAITING");
        step.error = error;
        step.wakeAt = nextAttemptAt;
        step.finishedAt = null;
        emit("step_retrying", step.id, { attempt: step.attempts, error, nextAttemptAt: nextAttemptAt.toISOString() });
        ended(step, result, cutShort ?? "retrying");
        if (isDue(step)) retryNow.push(step);
        return;
      }
      moveStep(step, "FAILED");
      step.error = error;
      emit("step_failed", step.id, { attempt: step.attempts, error });
      ended(step, result, cutShort ?? "failed");
    });
    // What the budget cut off stays first in line; then the newly ready, in step order.
    const next = [...unlocked, ...retryNow].sort((a, b) => a.position - b.position);
    ready = [...ready.slice(wave.length), ...next];
  }

  // A step that failed for good takes every step that depends on it, directly or not, with it.
  for (const step of ordered) {
    if (step.status === "PENDING" && step.deps.some((d) => isFailedOrSkipped(steps.get(d)?.status))) {
      moveStep(step, "SKIPPED");
      step.finishedAt = ctx.clock.now();
      step.changed = true;
      emit("step_skipped", step.id, { reason: "a dependency did not succeed" });
    }
  }

  let outcome: TickOutcome = "progressed";
  let wakeAt: Date | null = run.wakeAt;
  if (ordered.every((s) => isTerminalStep(s.status))) {
    const failed = ordered.filter((s) => s.status === "FAILED").map((s) => s.id);
    runState.finishedAt = ctx.clock.now();
    wakeAt = null;
    if (failed.length > 0) {
      moveRun("FAILED");
      outcome = "failed";
      emit("run_failed", null, { failedSteps: failed });
    } else {
      moveRun("SUCCEEDED");
      outcome = "succeeded";
      emit("run_succeeded", null);
    }
  } else if (ready.length > 0) {
    // Work left (the budget ran out, or the tick was asked to stop): pick it up again at once.
    wakeAt = ctx.clock.now();
  } else {
    // Everything left waits: come back at the earliest timer. A run waiting only on
    // something else (a signal) is not due until that arrives.
    const timers = ordered.flatMap((s) => (s.status === "WAITING" && s.wakeAt ? [s.wakeAt.getTime()] : []));
    wakeAt = timers.length > 0 ? new Date(Math.min(...timers)) : null;
  }

  return {
    outcome,
    change: {
      runId: run.id,
      owner: ctx.owner,
      epoch: ctx.epoch,
      baseSeq: run.seq,
      run: { ...runState, updatedAt: ctx.clock.now(), wakeAt },
      steps: ordered.filter((s) => s.changed).map(stepUpdate),
      events,
      artifacts,
      awaitsSignal: ordered.some((s) => waitsForSignal(s) && s.signalledAt === null),
    },
  };
}

/** The outputs of a step's deps, by step id, as the handler receives them. */
function depOutputsOf(step: MutableStep, steps: Map<string, MutableStep>): Record<string, unknown> {
  const outputs: Record<string, unknown> = {};
  for (const dep of step.deps) outputs[dep] = steps.get(dep)?.output ?? null;
  return outputs;
}

function isFailedOrSkipped(status: StepStatus | undefined): boolean {
  return status === "FAILED" || status === "SKIPPED";
}

/** Like Promise.all over `items.map(fn)`, with at most `limit` calls pending at a time. */
async function mapWithLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  if (items.length <= limit) return Promise.all(items.map(fn));
  const results: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}
