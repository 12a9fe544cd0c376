import { approval } from "./approval.ts";
import { artifact } from "./artifact.ts";
import { fail } from "./fail.ts";
import { http } from "./http.ts";
import { noop } from "./noop.ts";
import { type StepHandler, StepRegistry } from "./registry.ts";
import { sleep } from "./sleep.ts";

/** The step types every Forge has (API.md, "Built-in step types"); a policy can forbid any of them. */
export const BUILT_IN_STEPS: readonly StepHandler[] = [noop, sleep, fail, http, approval, artifact];

/** A registry of the built-in step types plus `extra`. */
export function defaultRegistry(extra: StepHandler[] = []): StepRegistry {
  return new StepRegistry([...BUILT_IN_STEPS, ...extra]);
}
