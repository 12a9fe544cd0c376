import type { StepStatus } from "../../domain/status.ts";
import type { StepRecord } from "../../store/records.ts";
import { builder } from "../builder.ts";

// `satisfies` keeps the enum in step with the domain's list: a status added there fails to compile here.
export const StepStatusEnum = builder.enumType("StepStatus", {
  description: "Where a step is: PENDING, RUNNING and WAITING, then one of the terminal SUCCEEDED, FAILED, SKIPPED or CANCELLED.",
  values: {
    PENDING: { description: "Not started: its deps have not all succeeded yet, or no tick has reached it." },
    RUNNING: { description: "An attempt is in progress under the run's lease." },
    WAITING: {
      description:
        "Waiting with no lease held: on a sleep timer, a retry's backoff (error then says why the last attempt failed) or an approval's signal.",
    },
    SUCCEEDED: { description: "Terminal: an attempt succeeded; output holds its result." },
    FAILED: { description: "Terminal: its last attempt failed and no retry was left; error says why." },
    SKIPPED: { description: "Terminal: a step it depends on, directly or not, did not succeed, so it never ran." },
    CANCELLED: { description: "Terminal: the run was cancelled before the step finished." },
  } satisfies Record<StepStatus, { description: string }>,
});

export const StepRef = builder.objectRef<StepRecord>("Step").implement({
  description: "One step of a run's graph, with the state of its attempts.",
  fields: (t) => ({
    id: t.id({
      description: 'Unique among the steps of all runs: "<runId>/<stepId>", so a normalized client cache never mixes two runs\' steps.',
      resolve: (s) => `${s.runId}/${s.id}`,
    }),
    stepId: t.exposeString("id", { description: "The key in graph.steps (what deps, RunEvent.stepId and signalRun name)." }),
    runId: t.exposeID("runId", { description: "The run this step belongs to." }),
    type: t.exposeString("type", {
      description: "Its registered step type: noop, sleep, fail, http, approval, artifact, or another type the process registers.",
    }),
    deps: t.exposeStringList("deps", { description: "The stepIds of the steps that must succeed before it starts; [] for none." }),
    status: t.field({ type: StepStatusEnum, description: "Where the step is in its lifecycle.", resolve: (s) => s.status }),
    attempts: t.exposeInt("attempts", { description: "Attempts started so far, retries included; 0 before the first." }),
    startedAt: t.field({
      type: "DateTime",
      nullable: true,
      description: "When its latest attempt started; null before the first.",
      resolve: (s) => s.startedAt,
    }),
    finishedAt: t.field({
      type: "DateTime",
      nullable: true,
      description: "When it reached SUCCEEDED, FAILED, SKIPPED or CANCELLED; null until then (and while it waits to retry).",
      resolve: (s) => s.finishedAt,
    }),
    output: t.field({
      type: "JSON",
      nullable: true,
      description:
        "What the step produced when it succeeded (an http step's { status, headers, body }, an approval's payload); null until then, or when it produced nothing.",
      resolve: (s, _args, ctx) => ctx.answer.json(s, "output", "Step.output"),
    }),
    error: t.exposeString("error", {
      nullable: true,
      description:
        "Why its latest attempt failed (kept while it waits to retry, cleared when the next attempt starts); null when none failed.",
    }),
  }),
});
