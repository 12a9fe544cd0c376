import { STEP_STATUSES } from "../../domain/status.ts";
import type { StepRecord } from "../../store/records.ts";
import { builder } from "../builder.ts";

export const StepStatusEnum = builder.enumType("StepStatus", { values: STEP_STATUSES });

export const StepRef = builder.objectRef<StepRecord>("Step").implement({
  description: "One step of a run's graph.",
  fields: (t) => ({
    id: t.id({
      description: 'Unique among the steps of all runs: "<runId>/<stepId>", so a normalized client cache never mixes two runs\' steps.',
      resolve: (s) => `${s.runId}/${s.id}`,
    }),
    stepId: t.exposeString("id", { description: "The key in graph.steps (what deps, RunEvent.stepId and signalRun name)." }),
    runId: t.exposeID("runId", { description: "The run this step belongs to." }),
    type: t.exposeString("type"),
    deps: t.exposeStringList("deps"),
    status: t.field({ type: StepStatusEnum, resolve: (s) => s.status }),
    attempts: t.exposeInt("attempts"),
    startedAt: t.field({ type: "DateTime", nullable: true, resolve: (s) => s.startedAt }),
    finishedAt: t.field({ type: "DateTime", nullable: true, resolve: (s) => s.finishedAt }),
    output: t.field({ type: "JSON", nullable: true, resolve: (s, _args, ctx) => ctx.answer.json(s, "output", "Step.output") }),
    error: t.exposeString("error", { nullable: true }),
  }),
});
