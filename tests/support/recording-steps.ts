import { appendFileSync } from "node:fs";
import { noop } from "../../src/engine/steps/noop.ts";
import { StepRegistry } from "../../src/engine/steps/registry.ts";

/**
 * A step type for tests: `record` appends "runId stepId pid" to a file each time it
 * executes, so a test can count executions across processes. `params.sleepMs` makes an
 * execution take that long. Lines are short single appends (O_APPEND), so writers in
 * several processes never interleave within a line.
 */
export function recordingRegistry(file: string): StepRegistry {
  return new StepRegistry([
    noop,
    {
      type: "record",
      async run(ctx) {
        appendFileSync(file, `${ctx.runId} ${ctx.stepId} ${process.pid}\n`);
        const sleepMs = Number(ctx.params.sleepMs ?? 0);
        if (sleepMs > 0) await new Promise((resolve) => setTimeout(resolve, sleepMs));
        return { pid: process.pid };
      },
    },
  ]);
}

export interface Execution {
  runId: string;
  stepId: string;
  pid: number;
}

export function readExecutions(text: string): Execution[] {
  return text
    .split("\n")
    .filter((line) => line.length > 0)
    .map((line) => {
      const [runId, stepId, pid] = line.split(" ");
      return { runId: runId as string, stepId: stepId as string, pid: Number(pid) };
    });
}
