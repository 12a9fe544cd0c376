import type { RunMode } from "../../domain/status.ts";
import { fail } from "./fail.ts";
import { noop } from "./noop.ts";
import { sleep } from "./sleep.ts";

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
  /** Fires when the attempt must stop (its timeout passed, or the tick is shutting down). */
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
}

/** What a handler returns to wait (see StepContext.waitUntil). */
export class StepWait {
  constructor(readonly until: Date) {}
}

/** A step type. `run` returns the step's output (JSON) or throws to fail the attempt. */
export interface StepHandler {
  type: string;
  run(ctx: StepContext): unknown | Promise<unknown>;
  /** Checks a step's params when a run is created: the problem, or null when they are fine. */
  checkParams?(params: Record<string, unknown>): string | null;
}

/** The step types a Forge instance knows. */
export class StepRegistry {
  readonly #handlers = new Map<string, StepHandler>();

  constructor(handlers: StepHandler[] = [noop, sleep, fail]) {
    for (const handler of handlers) this.register(handler);
  }

  register(handler: StepHandler): void {
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
