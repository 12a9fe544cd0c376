import { createHash } from "node:crypto";
import type { Clock } from "../clock.ts";
import { type NewArtifact, type RunChange, type StepUpdate, stepUpdate, waitsForSignal } from "../domain/change.ts";
import type { NewEvent } from "../domain/event.ts";
import { backoffDelay, DEFAULT_RETRY } from "../domain/graph.ts";
import { isTerminalStep, type StepStatus } from "../domain/status.ts";
import type { RunRecord, StepRecord } from "../store/records.ts";
import { type ArtifactInfo, type ArtifactInput, PermanentStepError, type StepRegistry, StepWait } from "./steps/registry.ts";

/**
 * Advancing one run, in memory, under a lease the caller holds. Nothing here touches the
 * database: the result is a RunChange the scheduler commits (fenced by the lease) together
 * with other runs' changes. A run goes as far as it can without waiting: steps whose deps
 * have all succeeded run (concurrently, wave by wave) until none is left or the step
 * budget is spent, so an all-noop graph of any depth finishes in one tick.
 */
export interface TickContext {
  clock: Clock;
  registry: StepRegistry;
  owner: string;
  epoch: number;
  /** Most step attempts one tick makes for one run; the rest waits for the next tick. */
  stepBudget: number;
  /** Fires when the run's attempts must stop: the run was cancelled, or its lease lost. */
  signal: AbortSignal;
  /** The largest artifact a step may write, in bytes (FORGE_ARTIFACT_MAX_BYTES). */
  artifactMaxBytes: number;
}

/** The default of FORGE_ARTIFACT_MAX_BYTES: 1 MiB. */
export const DEFAULT_ARTIFACT_MAX_BYTES = 1024 * 1024;

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

/** What one call of a handler came to: a wait or an output, with the artifacts it wrote either way. */
interface Attempt {
  wait: StepWait | null;
  output: unknown;
  artifacts: NewArtifact[];
}

export async function advanceRun(run: RunRecord, stepRows: StepRecord[], ctx: TickContext): Promise<AdvancedRun> {
  const events: NewEvent[] = [];
  const emit = (type: NewEvent["type"], stepId: string | null, data: unknown = null) =>
    events.push({ type, stepId, data, createdAt: ctx.clock.now() });
  const steps = new Map<string, MutableStep>(stepRows.map((s) => [s.id, { ...s, changed: false }]));
  const artifacts: NewArtifact[] = [];
  const ordered = [...steps.values()].sort((a, b) => a.position - b.position);
  const runState = { status: run.status, startedAt: run.startedAt, finishedAt: run.finishedAt };

  if (runState.status === "PENDING") {
    runState.status = "RUNNING";
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
  while (budget > 0 && ready.length > 0 && !ctx.signal.aborted) {
    const wave = ready.slice(0, budget);
    budget -= wave.length;
    const resumed = new Map<MutableStep, Date | null>();
    for (const step of wave) {
      // A step waiting after a failed attempt (it keeps that attempt's error) starts a new
      // attempt; one that asked to wait (a sleep, a signal) resumes the attempt it is in.
      const resumesWait = step.status === "WAITING" && step.error === null;
      resumed.set(step, resumesWait ? step.wakeAt : null);
      step.status = "RUNNING";
      step.wakeAt = null;
      step.changed = true;
      if (!resumesWait) {
        step.attempts += 1;
        step.error = null;
        step.startedAt = ctx.clock.now();
        emit("step_started", step.id, { attempt: step.attempts });
      }
    }
    const results = await settleWithLimit(wave, STEP_CONCURRENCY, (step) => runAttempt(run, step, steps, resumed.get(step) ?? null, ctx));
    const signalled = new Set(wave.filter((s) => s.signalledAt !== null));
    const unlocked: MutableStep[] = [];
    const retryNow: MutableStep[] = [];
    results.forEach((result, i) => {
      const step = wave[i] as MutableStep;
      if (result.status === "fulfilled" && result.value.wait) {
        const { until, data } = result.value.wait;
        artifacts.push(...result.value.artifacts);
        step.status = "WAITING";
        step.wakeAt = until;
        emit("step_waiting", step.id, { ...data, attempt: step.attempts, until: until?.toISOString() ?? null });
        if (isDue(step)) retryNow.push(step);
        return;
      }
      step.finishedAt = ctx.clock.now();
      if (result.status === "fulfilled") {
        step.status = "SUCCEEDED";
        const done = result.value;
        step.output = done.output ?? null;
        artifacts.push(...done.artifacts);
        emit("step_succeeded", step.id, signalled.has(step) ? { attempt: step.attempts, signalled: true } : { attempt: step.attempts });
        for (const next of dependents.get(step.id) ?? []) {
          const left = (unmet.get(next.id) as number) - 1;
          unmet.set(next.id, left);
          if (left === 0 && next.status === "PENDING") unlocked.push(next);
        }
        return;
      }
      const error = errorMessage(result.reason);
      // The graph's retry (complete once validated) wins over the policy's default.
      const retry = { ...DEFAULT_RETRY, ...run.policy.defaultRetry, ...run.graph.steps[step.id]?.retry };
      if (step.attempts < retry.maxAttempts && !(result.reason instanceof PermanentStepError)) {
        // Durable backoff: the step waits with a wake time, not a timer in this process.
        const nextAttemptAt = new Date(ctx.clock.now().getTime() + backoffDelay(retry, step.attempts));
        step.status = "WAITING";
        step.error = error;
        step.wakeAt = nextAttemptAt;
        step.finishedAt = null;
        emit("step_retrying", step.id, { attempt: step.attempts, error, nextAttemptAt: nextAttemptAt.toISOString() });
        if (isDue(step)) retryNow.push(step);
        return;
      }
      step.status = "FAILED";
      step.error = error;
      emit("step_failed", step.id, { attempt: step.attempts, error });
    });
    // What the budget cut off stays first in line; then the newly ready, in step order.
    const next = [...unlocked, ...retryNow].sort((a, b) => a.position - b.position);
    ready = [...ready.slice(wave.length), ...next];
  }

  // A step that failed for good takes every step that depends on it, directly or not, with it.
  for (const step of ordered) {
    if (step.status === "PENDING" && step.deps.some((d) => isFailedOrSkipped(steps.get(d)?.status))) {
      step.status = "SKIPPED";
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
      runState.status = "FAILED";
      outcome = "failed";
      emit("run_failed", null, { failedSteps: failed });
    } else {
      runState.status = "SUCCEEDED";
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

function isFailedOrSkipped(status: StepStatus | undefined): boolean {
  return status === "FAILED" || status === "SKIPPED";
}

/**
 * One call of a step's handler. Its signal fires when the run's attempts must stop or
 * when the step's timeout passes (by the engine's clock); a handler that ignores the
 * signal still has its attempt failed at the timeout. A step that a signal completed
 * needs no call: the payload is its output. In DRY_RUN a side-effecting step is not
 * called either: it reports what it would have done.
 */
async function runAttempt(
  run: RunRecord,
  step: MutableStep,
  steps: Map<string, MutableStep>,
  resumedFrom: Date | null,
  ctx: TickContext,
): Promise<Attempt> {
  if (step.signalledAt !== null) return { wait: null, output: step.signal ?? null, artifacts: [] };
  const handler = ctx.registry.get(step.type);
  if (!handler) throw new Error(`step type "${step.type}" is not registered in this process`);
  const depOutputs: Record<string, unknown> = {};
  for (const dep of step.deps) depOutputs[dep] = steps.get(dep)?.output ?? null;
  const graphStep = run.graph.steps[step.id];
  const timeoutMs = graphStep?.timeoutMs ?? run.policy.defaultTimeoutMs ?? handler.defaultTimeoutMs;
  const artifacts: NewArtifact[] = [];
  const stepContext = (signal: AbortSignal) => ({
    runId: run.id,
    stepId: step.id,
    mode: run.mode,
    params: graphStep?.params ?? {},
    runParams: run.params,
    depOutputs,
    attempt: step.attempts,
    signal,
    now: ctx.clock.now(),
    waitUntil: (at: Date) => new StepWait(at),
    waitForSignal: (data?: Record<string, unknown>) => new StepWait(null, data),
    resumedFrom,
    writeArtifact: (input: ArtifactInput) => {
      const stored = artifactOf(input, step.id, ctx);
      artifacts.push(stored);
      const { content: _content, stepId: _stepId, createdAt: _createdAt, ...info } = stored;
      return info satisfies ArtifactInfo;
    },
  });
  if (run.mode === "DRY_RUN" && handler.sideEffects) {
    const context = stepContext(ctx.signal);
    const output = handler.dryRun ? await handler.dryRun(context) : { dryRun: true, type: step.type, params: context.params };
    return { wait: null, output: checkedOutput(output), artifacts };
  }
  const call = (signal: AbortSignal) => handler.run(stepContext(signal));
  // Without a timeout the attempt stops only with the run: no per-attempt signal to build.
  const output = timeoutMs === undefined ? await call(ctx.signal) : await withTimeout(call, timeoutMs, ctx);
  if (output instanceof StepWait) return { wait: output, output: null, artifacts };
  return { wait: null, output: checkedOutput(output), artifacts };
}

/**
 * The output is stored as JSON; one that cannot be fails the attempt here, with a reason,
 * instead of failing the whole tick's commit on every later tick.
 */
function checkedOutput(output: unknown): unknown {
  try {
    JSON.stringify(output);
  } catch (error) {
    throw new Error(`step output is not JSON-serializable: ${errorMessage(error)}`);
  }
  return output;
}

/** Checks an artifact a handler wrote and computes its digest; over the size cap it fails the step for good. */
function artifactOf(input: ArtifactInput, stepId: string, ctx: TickContext): NewArtifact {
  if (typeof input !== "object" || input === null || typeof input.name !== "string" || input.name.trim() === "") {
    throw new PermanentStepError("an artifact needs a non-blank `name`");
  }
  if (typeof input.content !== "string") throw new PermanentStepError(`artifact "${input.name}": \`content\` must be a string`);
  if (input.contentType !== undefined && typeof input.contentType !== "string") {
    throw new PermanentStepError(`artifact "${input.name}": \`contentType\` must be a string`);
  }
  for (const [key, value] of Object.entries({ name: input.name, contentType: input.contentType ?? "", content: input.content })) {
    // PostgreSQL text cannot hold NUL; refused on both databases alike.
    if (value.includes("\0"))
      throw new PermanentStepError(`artifact "${input.name.replaceAll("\0", "\uFFFD")}": \`${key}\` contains a NUL character`);
  }
  const bytes = Buffer.from(input.content, "utf8");
  if (bytes.byteLength > ctx.artifactMaxBytes) {
    throw new PermanentStepError(
      `artifact "${input.name}" is ${bytes.byteLength} bytes, over the limit of ${ctx.artifactMaxBytes} bytes (FORGE_ARTIFACT_MAX_BYTES)`,
    );
  }
  return {
    stepId,
    name: input.name,
    contentType: input.contentType ?? "text/plain; charset=utf-8",
    size: bytes.byteLength,
    sha256: createHash("sha256").update(bytes).digest("hex"),
    content: input.content,
    createdAt: ctx.clock.now(),
  };
}

/** Runs `call` with a signal that fires when the tick stops or `timeoutMs` passes on the engine's clock, whichever is first. */
async function withTimeout(call: (signal: AbortSignal) => unknown, timeoutMs: number, ctx: TickContext): Promise<unknown> {
  const attempt = new AbortController();
  const stop = () => attempt.abort(ctx.signal.reason);
  ctx.signal.addEventListener("abort", stop, { once: true });
  const done = new AbortController();
  try {
    return await Promise.race([
      (async () => call(attempt.signal))(),
      ctx.clock.sleep(timeoutMs, done.signal).then(() => {
        if (done.signal.aborted) return undefined; // the handler finished first
        const error = new Error(`timed out after ${timeoutMs} ms`);
        attempt.abort(error);
        throw error;
      }),
    ]);
  } finally {
    done.abort();
    ctx.signal.removeEventListener("abort", stop);
  }
}

/** Attempts of one run in flight at once: fan-out runs concurrently, but a 1,000-wide wave does not open 1,000 requests. */
export const STEP_CONCURRENCY = 16;

/** Like Promise.allSettled over `items.map(fn)`, with at most `limit` calls pending at a time. */
async function settleWithLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
  if (items.length <= limit) return Promise.allSettled(items.map(fn));
  const results: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        results[i] = { status: "fulfilled", value: await fn(items[i] as T) };
      } catch (reason) {
        results[i] = { status: "rejected", reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

/** A failed attempt's error as stored: NUL characters (which PostgreSQL text cannot hold) become U+FFFD. */
function errorMessage(reason: unknown): string {
  return (reason instanceof Error ? reason.message : String(reason)).replaceAll("\0", "\uFFFD");
}
