import type { StepHandler } from "./registry.ts";

/**
 * For testing failure paths: `{ "message": S, "times": N }` fails with `message` on its
 * first N attempts (on every attempt when `times` is absent), then succeeds.
 */
export const fail: StepHandler = {
  type: "fail",
  checkParams(params) {
    if (params.message !== undefined && typeof params.message !== "string") return `"message" must be a string`;
    const times = params.times;
    if (times !== undefined && (typeof times !== "number" || !Number.isInteger(times) || times < 0)) {
      return `"times" must be a whole number of attempts, 0 or more`;
    }
    return null;
  },
  run(ctx) {
    const times = ctx.params.times as number | undefined;
    if (times === undefined || ctx.attempt <= times) throw new Error((ctx.params.message as string | undefined) ?? "failed on purpose");
    return null;
  },
};
