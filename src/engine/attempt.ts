import { createHash } from "node:crypto";
import type { Clock } from "../clock.ts";
import type { NewArtifact } from "../domain/change.ts";
import { deepFreeze, jsonProblem, sanitizeText, textProblem } from "../domain/json.ts";
import type { RunRecord } from "../store/records.ts";
import { type ArtifactInfo, type ArtifactInput, PermanentStepError, type StepRegistry, StepWait } from "./steps/registry.ts";

/**
 * The attempt boundary: one call of a step's handler, and the one place where what the
 * handler produced (its output, the error it threw, the wait it asked for, the artifacts
 * it wrote) is made storable before the tick sees it.
 *
 * A handler is anybody's code (FORGE_STEP_MODULES), so it may return a BigInt, a cycle or
 * a lone surrogate, pass an invalid Date to waitUntil, or throw something that is not an
 * Error. None of that may reach the commit: a value PostgreSQL cannot store would fail the
 * commit of the run on every tick, and its side-effecting steps would run again each time.
 * So here, what cannot be stored fails the attempt with a reason saying why (the run goes
 * on by its retry policy), and where the attempt failed anyway its error text is stored
 * sanitized. `runAttempt` never rejects.
 */
export type AttemptResult = (
  | { status: "succeeded"; output: unknown; artifacts: NewArtifact[] }
  /** The handler asked to wait: until a time, or (`until` null) for a signal. `data` goes on the step_waiting event. */
  | { status: "waiting"; until: Date | null; data: Record<string, unknown>; artifacts: NewArtifact[] }
  /** `cut`: the attempt did not fail by itself; its timeout passed, or the run's attempts were stopped (cancelled, lease lost, shutdown). */
  | { status: "failed"; error: string; permanent: boolean; cut?: "timed_out" | "stopped" }
) & {
  /** Wall-clock seconds the handler took; null when none was called (a signal's payload, a run stopped before the attempt's turn). */
  seconds: number | null;
};

/** What an attempt needs from its tick. */
export interface AttemptContext {
  clock: Clock;
  registry: StepRegistry;
  /** Fires when the run's attempts must stop: the run was cancelled, or its lease lost. */
  signal: AbortSignal;
  /** FORGE_ARTIFACT_MAX_BYTES. */
  artifactMaxBytes: number;
}

/** W3C trace context headers for what the attempt sends on, made when a handler first asks (most never do). */
export type TraceHeaders = () => Readonly<Record<string, string>>;
const NO_TRACE_HEADERS: Readonly<Record<string, string>> = Object.freeze({});
const NO_TRACE: TraceHeaders = () => NO_TRACE_HEADERS;

/** The step being attempted, as the tick holds it. */
export interface AttemptStep {
  id: string;
  type: string;
  attempts: number;
  /** Set when signalRun delivered a payload for this (waiting) step: the payload is its output. */
  signalledAt: Date | null;
  signal: unknown;
}

/** The largest output a step may return, as JSON text: larger results belong in an artifact. */
export const MAX_OUTPUT_BYTES = 1024 * 1024;
/** The furthest ahead a handler may ask to wait (as the sleep step type allows). */
export const MAX_WAIT_MS = 366 * 24 * 60 * 60 * 1000;

/**
 * Runs one attempt of `step`. Its signal fires when the run's attempts must stop or when
 * the step's timeout passes (by the engine's clock); a handler that ignores the signal
 * still has its attempt failed at the timeout. A step that a signal completed needs no
 * call: the payload is its output. In DRY_RUN a side-effecting step is not called either:
 * it reports what it would have done.
 */
export async function runAttempt(
  run: RunRecord,
  step: AttemptStep,
  depOutputs: Record<string, unknown>,
  resumedFrom: Date | null,
  ctx: AttemptContext,
  traceHeaders: TraceHeaders = NO_TRACE,
): Promise<AttemptResult> {
  const artifacts: NewArtifact[] = [];
  // Once the attempt has ended, what its handler does is no part of it (see writeArtifact).
  let ended = false;
  let calledAt: number | null = null;
  const seconds = () => (calledAt === null ? null : (performance.now() - calledAt) / 1000);
  try {
    if (step.signalledAt !== null) return { status: "succeeded", output: deepFreeze(step.signal ?? null), artifacts, seconds: null };
    // The run was cancelled (or its lease lost) before this attempt's turn came: do not start it.
    if (ctx.signal.aborted) throw ctx.signal.reason;
    const handler = ctx.registry.get(step.type);
    if (!handler) throw new Error(`step type "${step.type}" is not registered in this process`);
    const graphStep = run.graph.steps[step.id];
    const timeoutMs = graphStep?.timeoutMs ?? run.policy.defaultTimeoutMs ?? handler.defaultTimeoutMs;
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
      get traceHeaders() {
        return traceHeaders();
      },
      writeArtifact: (input: ArtifactInput) => {
        // A handler that writes after its attempt ended (it was not awaited, or it timed
        // out and went on) writes nothing: the attempt's artifacts are already counted.
        if (ended) throw new PermanentStepError("writeArtifact was called after the attempt ended");
        const stored = artifactOf(input, step.id, ctx, artifacts);
        artifacts.push(stored);
        const { content: _content, stepId: _stepId, createdAt: _createdAt, ...info } = stored;
        return info satisfies ArtifactInfo;
      },
    });
    let returned: unknown;
    calledAt = performance.now();
    if (run.mode === "DRY_RUN" && handler.sideEffects) {
      const context = stepContext(ctx.signal);
      returned = await untilAborted(
        (async () => (handler.dryRun ? handler.dryRun(context) : { dryRun: true, type: step.type, params: context.params }))(),
        ctx.signal,
      );
    } else {
      const call = (signal: AbortSignal) => handler.run(stepContext(signal));
      if (timeoutMs === undefined) {
        // Without a timeout the attempt stops only with the run: no per-attempt signal to
        // build. A handler that answered at once (a noop) has nothing left to race.
        const answer = call(ctx.signal);
        returned = isThenable(answer) ? await untilAborted((async () => answer)(), ctx.signal) : answer;
      } else {
        returned = await withTimeout(call, timeoutMs, ctx);
      }
    }
    ended = true;
    const took = seconds();
    if (returned instanceof StepWait) return { status: "waiting", ...checkedWait(returned, ctx.clock.now()), artifacts, seconds: took };
    return { status: "succeeded", output: storableJson(returned, "step output"), artifacts, seconds: took };
  } catch (reason) {
    ended = true;
    const cut = thrownAs(reason, AttemptTimedOut) ? "timed_out" : ctx.signal.aborted ? "stopped" : undefined;
    return {
      status: "failed",
      error: errorText(reason),
      permanent: thrownAs(reason, PermanentStepError),
      seconds: seconds(),
      ...(cut ? { cut } : {}),
    };
  }
}

/** The failure of an attempt that cannot be stored: a plain Error whose message says why. */
class Unstorable extends Error {}

/** The failure of an attempt whose timeout passed. */
class AttemptTimedOut extends Error {}

/**
 * `value` as it will be stored and read back: JSON, at most MAX_OUTPUT_BYTES of it, nested
 * at most MAX_JSON_DEPTH levels, every key and string well-formed text. What the tick keeps
 * (and hands to dependent steps) is the value read back from that JSON, so a step sees the
 * same output in the tick that produced it as in any later one.
 */
function storableJson(value: unknown, what: string): unknown {
  if (value === undefined || value === null) return null;
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new Unstorable(`${what} is not JSON-serializable: ${errorText(error)}`);
  }
  if (text === undefined) return null; // a function or a symbol: nothing to store
  if (text.length > MAX_OUTPUT_BYTES / 3 && Buffer.byteLength(text) > MAX_OUTPUT_BYTES) {
    throw new Unstorable(
      `${what} is ${Buffer.byteLength(text)} bytes of JSON, over the limit of ${MAX_OUTPUT_BYTES} (write an artifact instead)`,
    );
  }
  const stored: unknown = JSON.parse(text);
  const problem = jsonProblem(stored);
  if (problem) throw new Unstorable(`${what}${problem.path} ${problem.problem}`);
  // Dependent steps of the same tick read it (ctx.depOutputs): they cannot change what is committed.
  return deepFreeze(stored);
}

/** A wait the handler asked for, checked: a real time within MAX_WAIT_MS (or null), and storable data. */
function checkedWait(wait: StepWait, now: Date): { until: Date | null; data: Record<string, unknown> } {
  const given: unknown = wait.until;
  // Read with Date's own getTime (a subclass may override it) and kept as a fresh Date, so
  // what was checked is what is stored.
  const time = given instanceof Date ? Date.prototype.getTime.call(given) : Number.NaN;
  if (given !== null && !Number.isFinite(time)) throw new Unstorable(`waitUntil needs a valid Date, got ${describe(given)}`);
  const until = given === null ? null : new Date(time);
  if (until !== null && until.getTime() - now.getTime() > MAX_WAIT_MS) {
    throw new Unstorable(`waitUntil(${until.toISOString()}) is more than ${MAX_WAIT_MS / 86_400_000} days away`);
  }
  const stored = storableJson(wait.data ?? {}, "waitForSignal data");
  // Checked as stored: a toJSON may have turned an object into something else.
  if (typeof stored !== "object" || stored === null || Array.isArray(stored)) {
    throw new Unstorable(`waitForSignal data must be an object, got ${describe(stored)}`);
  }
  return { until, data: stored as Record<string, unknown> };
}

/**
 * A failed attempt's error as stored: the message of whatever was thrown (which may not be
 * an Error, and whose message or toString may itself throw), sanitized to storable text.
 */
export function errorText(reason: unknown): string {
  let text: string;
  try {
    text = reason instanceof Error ? String(reason.message) : String(reason);
  } catch {
    text = `${describe(reason)} that cannot be turned into text`;
  }
  return sanitizeText(text === "" ? "failed (the error has no message)" : text);
}

/** Whether a thrown value is a `type` (instanceof itself throws on a revoked Proxy: then it is not). */
function thrownAs(reason: unknown, type: abstract new (...args: never[]) => unknown): boolean {
  try {
    return reason instanceof type;
  } catch {
    return false;
  }
}

/** A short description of a value of unknown type for messages; it never throws (a revoked Proxy throws on instanceof). */
function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value !== "object") return typeof value;
  try {
    if (value instanceof Date) return "an invalid Date";
    if (Array.isArray(value)) return "an array";
  } catch {
    return "a value that cannot be inspected";
  }
  return "an object";
}

/** The longest artifact name or content type (as the artifact step type's params allow). */
const ARTIFACT_NAME_MAX = 256;
/** Artifacts one attempt may write: a file per artifact, not a store of records. */
export const MAX_ARTIFACTS_PER_ATTEMPT = 100;

/**
 * Checks an artifact a handler wrote and computes its digest; an artifact that cannot be
 * stored fails the step for good. `written` are the attempt's artifacts so far: together
 * they stay within MAX_ARTIFACTS_PER_ATTEMPT and 16 times FORGE_ARTIFACT_MAX_BYTES, so one
 * attempt cannot fill a commit (PostgreSQL refuses a statement's rows past 256 MB).
 */
function artifactOf(input: ArtifactInput, stepId: string, ctx: AttemptContext, written: NewArtifact[]): NewArtifact {
  if (typeof input !== "object" || input === null) throw new PermanentStepError("an artifact needs a non-blank `name`");
  // Each field is read once: a getter could answer the checks one thing and the store another.
  const { name: givenName, contentType: givenType, content } = input as { name: unknown; contentType: unknown; content: unknown };
  if (typeof givenName !== "string" || givenName.trim() === "") throw new PermanentStepError("an artifact needs a non-blank `name`");
  const name = sanitizeText(givenName, ARTIFACT_NAME_MAX);
  if (givenName.length > ARTIFACT_NAME_MAX)
    throw new PermanentStepError(`artifact "${name}": \`name\` is longer than ${ARTIFACT_NAME_MAX} characters`);
  if (typeof content !== "string") throw new PermanentStepError(`artifact "${name}": \`content\` must be a string`);
  if (givenType !== undefined && typeof givenType !== "string")
    throw new PermanentStepError(`artifact "${name}": \`contentType\` must be a string`);
  const contentType = givenType ?? "text/plain; charset=utf-8";
  if (contentType.length > ARTIFACT_NAME_MAX) {
    throw new PermanentStepError(`artifact "${name}": \`contentType\` is longer than ${ARTIFACT_NAME_MAX} characters`);
  }
  for (const [key, value] of Object.entries({ name: givenName, contentType, content })) {
    const problem = textProblem(value);
    if (problem) throw new PermanentStepError(`artifact "${name}": \`${key}\` ${problem}`);
  }
  const bytes = Buffer.from(content, "utf8");
  if (bytes.byteLength > ctx.artifactMaxBytes) {
    throw new PermanentStepError(
      `artifact "${name}" is ${bytes.byteLength} bytes, over the limit of ${ctx.artifactMaxBytes} bytes (FORGE_ARTIFACT_MAX_BYTES)`,
    );
  }
  if (written.length >= MAX_ARTIFACTS_PER_ATTEMPT) {
    throw new PermanentStepError(`artifact "${name}": an attempt may write at most ${MAX_ARTIFACTS_PER_ATTEMPT} artifacts`);
  }
  const total = written.reduce((sum, a) => sum + a.size, bytes.byteLength);
  if (total > 16 * ctx.artifactMaxBytes) {
    throw new PermanentStepError(
      `artifact "${name}": the attempt's artifacts would total ${total} bytes, over 16 times FORGE_ARTIFACT_MAX_BYTES (${16 * ctx.artifactMaxBytes})`,
    );
  }
  return {
    stepId,
    name: givenName,
    contentType,
    size: bytes.byteLength,
    sha256: createHash("sha256").update(bytes).digest("hex"),
    content,
    createdAt: ctx.clock.now(),
  };
}

/** Runs `call` with a signal that fires when the run stops or `timeoutMs` passes on the engine's clock, whichever is first. */
async function withTimeout(call: (signal: AbortSignal) => unknown, timeoutMs: number, ctx: AttemptContext): Promise<unknown> {
  const attempt = new AbortController();
  const stop = () => attempt.abort(ctx.signal.reason);
  ctx.signal.addEventListener("abort", stop, { once: true });
  const done = new AbortController();
  try {
    return await Promise.race([
      untilAborted((async () => call(attempt.signal))(), ctx.signal),
      ctx.clock.sleep(timeoutMs, done.signal).then(() => {
        if (done.signal.aborted) return undefined; // the handler finished first
        const error = new AttemptTimedOut(`timed out after ${timeoutMs} ms`);
        attempt.abort(error);
        throw error;
      }),
    ]);
  } finally {
    done.abort();
    ctx.signal.removeEventListener("abort", stop);
  }
}

/** Whether `value` would be awaited as a promise (reading `then` may throw: the attempt fails then). */
function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === "object" || typeof value === "function") && value !== null && typeof (value as { then?: unknown }).then === "function"
  );
}

/**
 * `work`, or its run's abort reason as soon as the run's signal fires (a cancellation, a
 * lost lease, a shutdown that will not wait): a handler that ignores its signal must not
 * hold its tick, and the worker's slot, until it returns. Nothing it does later is
 * committed; its promise is left to settle on its own.
 */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      work.catch(() => {});
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
