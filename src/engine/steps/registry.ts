import type { RunMode } from "../../domain/status.ts";
import { noop } from "./noop.ts";

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
  /** Fires when the attempt must stop (the run was cancelled or the tick is shutting down). */
  signal: AbortSignal;
}

/** A step type. `run` returns the step's output (JSON) or throws to fail the attempt. */
export interface StepHandler {
  type: string;
  run(ctx: StepContext): unknown | Promise<unknown>;
}

/** The step types a Forge instance knows. */
export class StepRegistry {
  readonly #handlers = new Map<string, StepHandler>();

  constructor(handlers: StepHandler[] = [noop]) {
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
}
