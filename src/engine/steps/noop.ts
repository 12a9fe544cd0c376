import type { StepHandler } from "./registry.ts";

/** Succeeds at once with no output. */
export const noop: StepHandler = {
  type: "noop",
  run: () => null,
};
