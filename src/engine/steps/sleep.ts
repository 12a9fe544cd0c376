import type { StepHandler } from "./registry.ts";

const MAX_SLEEP_MS = 366 * 24 * 60 * 60 * 1000;

/**
 * A durable timer: `{ "ms": N }`. The step waits (WAITING, no lease held) until N ms after
 * it started, across restarts, then succeeds with no output.
 */
export const sleep: StepHandler = {
  type: "sleep",
  checkParams(params) {
    const ms = params.ms;
    if (typeof ms !== "number" || !Number.isInteger(ms) || ms < 0 || ms > MAX_SLEEP_MS) {
      return `sleep needs "ms": a whole number of milliseconds from 0 to ${MAX_SLEEP_MS}`;
    }
    return null;
  },
  run(ctx) {
    if (ctx.resumedFrom) return null;
    return ctx.waitUntil(new Date(ctx.now.getTime() + (ctx.params.ms as number)));
  },
};
