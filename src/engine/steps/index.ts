import { approval } from "./approval.ts";
import { artifact } from "./artifact.ts";
import { fail } from "./fail.ts";
import { type HttpStepOptions, httpStep } from "./http.ts";
import { noop } from "./noop.ts";
import { type StepHandler, StepRegistry } from "./registry.ts";
import { sleep } from "./sleep.ts";

/** Settings of the built-in step types that have some (from configuration: engine/setup.ts). */
export interface BuiltInStepOptions {
  /** FORGE_HTTP_ALLOW_PRIVATE and FORGE_HTTP_ALLOW_HOSTS; without them http steps reach only public addresses. */
  http?: HttpStepOptions;
}

/** The step types every Forge has (API.md, "Built-in step types"); a policy can forbid any of them. */
export function builtInSteps(options: BuiltInStepOptions = {}): StepHandler[] {
  return [noop, sleep, fail, httpStep(options.http), approval, artifact];
}

/** A registry of the built-in step types plus `extra`. */
export function defaultRegistry(extra: StepHandler[] = [], options: BuiltInStepOptions = {}): StepRegistry {
  return new StepRegistry([...builtInSteps(options), ...extra]);
}
