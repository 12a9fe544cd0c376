import type { RunMode } from "../../domain/status.ts";

/** What a step handler receives for one attempt. */
export interface StepContext {
  runId: string;
  stepId: string;
  mode: RunMode;
  /** The step's own params from the graph. */
  params: Record<string, unknown>;
  /** The run's params. */
  runParams: Record<string, unknown>;
  /** Outputs of the step's deps, by step id. */
  depOutputs: Record<string, unknown>;
  attempt: number;
  /** Fires when the attempt must stop: its timeout passed, the run was cancelled, or its lease was lost. */
  signal: AbortSignal;
  /** The current time, by the engine's clock. */
  now: Date;
  /**
   * Ends this attempt for now without a result: the step is WAITING (no lease held) until
   * `at`, and then its handler runs again with `resumedFrom` set. Return what it returns.
   */
  waitUntil(at: Date): StepWait;
  /** When this call resumes a wait the handler asked for: the time it waited until. */
  resumedFrom: Date | null;
  /**
   * Ends this attempt for now without a result: the step is WAITING (no lease held) until
   * signalRun delivers a payload for it, which becomes the step's output (the handler is
   * not called again). `data` is added to the step_waiting event. Return what it returns.
   */
  waitForSignal(data?: Record<string, unknown>): StepWait;
  /**
   * Adds an artifact to the run. It is stored with the step's result, in the same commit;
   * an attempt that fails or is abandoned leaves none. Throws when the content is over
   * FORGE_ARTIFACT_MAX_BYTES.
   */
  writeArtifact(artifact: ArtifactInput): ArtifactInfo;
  /** W3C trace context (`traceparent`, `tracestate`) of this attempt's span, for requests the step makes; empty without tracing. */
  traceHeaders: Readonly<Record<string, string>>;
}

export interface ArtifactInput {
  name: string;
  /** Default: text/plain. */
  contentType?: string;
  /** Stored as UTF-8 text. */
  content: string;
}

export interface ArtifactInfo {
  name: string;
  contentType: string;
  /** Bytes of the UTF-8 content. */
  size: number;
  /** Hex SHA-256 of those bytes. */
  sha256: string;
}

/** What a handler returns to wait (see StepContext.waitUntil and waitForSignal). */
export class StepWait {
  constructor(
    /** Due again at this time; null: when a signal arrives. */
    readonly until: Date | null,
    readonly data: Record<string, unknown> = {},
  ) {}
}

/** Thrown by a handler, fails the step for good: no retry is attempted, whatever its retry policy allows. */
export class PermanentStepError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PermanentStepError";
  }
}

/** A step type. `run` returns the step's output (JSON) or throws to fail the attempt. */
export interface StepHandler {
  type: string;
  run(ctx: StepContext): unknown | Promise<unknown>;
  /** Checks a step's params when a run is created: the problem, or null when they are fine. */
  checkParams?(params: Record<string, unknown>): string | null;
  /**
   * The step acts on the world outside Forge (a request, a deploy). In a DRY_RUN run such a
   * step does not run: it succeeds with what `dryRun` returns, by default
   * `{ dryRun: true, type, params }`.
   */
  sideEffects?: boolean;
  /** A side-effecting step's output in DRY_RUN: what it would have done. Must not act. */
  dryRun?(ctx: StepContext): unknown;
  /** The timeout of an attempt when neither the graph nor the run's policy sets one. */
  defaultTimeoutMs?: number;
}

/** The step types a Forge instance knows. */
export class StepRegistry {
  readonly #handlers = new Map<string, StepHandler>();

  constructor(handlers: StepHandler[]) {
    for (const handler of handlers) this.register(handler);
  }

  register(handler: StepHandler): void {
    const problem = handlerProblem(handler);
    if (problem) throw new Error(problem);
    if (this.#handlers.has(handler.type)) throw new Error(`step type "${handler.type}" is already registered`);
    this.#handlers.set(handler.type, handler);
  }

  get(type: string): StepHandler | undefined {
    return this.#handlers.get(type);
  }

  types(): ReadonlySet<string> {
    return new Set(this.#handlers.keys());
  }

  /** The problem with a step's params for its type, or null. */
  checkParams(type: string, params: Record<string, unknown>): string | null {
    return this.#handlers.get(type)?.checkParams?.(params) ?? null;
  }
}

const STEP_TYPE = /^[A-Za-z0-9._:-]{1,128}$/;

/** What is wrong with a handler object (a module may hand over anything), or null. */
function handlerProblem(handler: unknown): string | null {
  if (typeof handler !== "object" || handler === null) return "a step handler must be an object with `type` and `run`";
  const h = handler as Record<string, unknown>;
  if (typeof h.type !== "string" || !STEP_TYPE.test(h.type)) return "a step handler's `type` must be 1-128 characters of [A-Za-z0-9._:-]";
  if (typeof h.run !== "function") return `step type "${h.type}": \`run\` must be a function`;
  for (const key of ["checkParams", "dryRun"] as const) {
    if (h[key] !== undefined && typeof h[key] !== "function") return `step type "${h.type}": \`${key}\` must be a function when given`;
  }
  if (h.sideEffects !== undefined && typeof h.sideEffects !== "boolean") return `step type "${h.type}": \`sideEffects\` must be a boolean`;
  const t = h.defaultTimeoutMs;
  if (t !== undefined && (typeof t !== "number" || !Number.isInteger(t) || t < 1)) {
    return `step type "${h.type}": \`defaultTimeoutMs\` must be a whole number of milliseconds, 1 or more`;
  }
  return null;
}
