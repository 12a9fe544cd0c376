import type { StepHandler } from "./registry.ts";

/**
 * `{ "prompt": S }`: the step waits (WAITING, no lease held) until an admin calls
 * signalRun for it; the payload delivered becomes its output.
 */
export const approval: StepHandler = {
  type: "approval",
  checkParams(params) {
    const prompt = params.prompt;
    if (prompt !== undefined && (typeof prompt !== "string" || prompt.length > 4096))
      return `"prompt" must be a string of at most 4096 characters`;
    return null;
  },
  run(ctx) {
    const prompt = ctx.params.prompt as string | undefined;
    return ctx.waitForSignal(prompt === undefined ? {} : { prompt });
  },
};
