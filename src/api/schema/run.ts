import { textProblem } from "../../domain/json.ts";
import type { RunMode, RunStatus } from "../../domain/status.ts";
import { InvalidInput } from "../../errors.ts";
import type { RunRecord } from "../../store/records.ts";
import type { RunCursor } from "../../store/runs.ts";
import { adminAction } from "../admin.ts";
import { intInRange } from "../args.ts";
import { builder } from "../builder.ts";
import { ArtifactRef } from "./artifact.ts";
import { eventPage, RunEventRef } from "./event.ts";
import { StepRef } from "./step.ts";

// `satisfies` keeps the enums in step with the domain's lists: a status added there fails to compile here.
export const RunStatusEnum = builder.enumType("RunStatus", {
  description: "Where a run is in its lifecycle: PENDING, then RUNNING, then one of the terminal SUCCEEDED, FAILED or CANCELLED.",
  values: {
    PENDING: { description: "Created and not started: no tick has advanced it yet." },
    RUNNING: { description: "A tick has started it; its steps are running, or waiting on timers, retries or approvals." },
    SUCCEEDED: { description: "Terminal: every step succeeded." },
    FAILED: {
      description:
        "Terminal: a step failed for good (run_failed lists failedSteps), or the run's changes could not be committed (data.reason says why).",
    },
    CANCELLED: { description: "Terminal: cancelRun stopped it before it finished; its unfinished steps are CANCELLED." },
  } satisfies Record<RunStatus, { description: string }>,
});
const RunModeEnum = builder.enumType("RunMode", {
  description: "Whether a run's side-effecting steps (such as http) act on the world or only report what they would do.",
  values: {
    DRY_RUN: {
      description:
        "Side-effecting steps do not act: they succeed with what they would have done (an http step sends nothing and outputs { dryRun: true, request }).",
    },
    LIVE: { description: "Every step acts for real (an http step performs its request)." },
  } satisfies Record<RunMode, { description: string }>,
});

interface LeaseView {
  owner: string;
  epoch: number;
  expiresAt: Date;
}

const LeaseRef = builder.objectRef<LeaseView>("Lease").implement({
  description:
    "A ticker's exclusive, expiring hold on a run while it advances it: two tickers never advance one run at once, and every write is fenced by the epoch.",
  fields: (t) => ({
    owner: t.exposeString("owner", { description: "The id of the worker or ticker holding the lease." }),
    epoch: t.exposeInt("epoch", { description: "Fencing token: increases every time the lease changes hands." }),
    expiresAt: t.field({
      type: "DateTime",
      description: "When the lease lapses unless its holder renews it (it does while the steps run); another ticker may then take the run.",
      resolve: (l) => l.expiresAt,
    }),
  }),
});

export const RunRef = builder.objectRef<RunRecord>("Run").implement({
  description: "A run of a step graph: its input as accepted, its status, its steps and its event history.",
  fields: (t) => ({
    id: t.exposeID("id", { description: "The id given in CreateRunInput.id, or generated: 1-128 chars of [A-Za-z0-9._:-]." }),
    mode: t.field({
      type: RunModeEnum,
      description: "LIVE, or DRY_RUN where side-effecting steps only report what they would do.",
      resolve: (r) => r.mode,
    }),
    jobType: t.exposeString("jobType", {
      description: "The job type, which picks the policy that applies to the run: 1-128 chars of [A-Za-z0-9._:-].",
    }),
    lane: t.exposeString("lane", {
      description: 'The lane it is queued in ("default" unless given); a policy\'s laneConcurrency caps the RUNNING runs of a lane.',
    }),
    requestedBy: t.exposeString("requestedBy", { description: "Who asked for the run, as given at creation (1-256 chars)." }),
    priority: t.exposeInt("priority", {
      description: "-1000..1000, default 0: runs with higher priority are ticked first, oldest first among equals, whatever their lanes.",
    }),
    status: t.field({ type: RunStatusEnum, description: "Where the run is in its lifecycle.", resolve: (r) => r.status }),
    graph: t.field({
      type: "JSON",
      description: "The graph exactly as accepted, normalized so that every step has deps.",
      resolve: (r, _args, ctx) => ctx.answer.json(r, "graph", "Run.graph"),
    }),
    params: t.field({
      type: "JSON",
      description: "The run's parameters as given at creation; {} when none were.",
      resolve: (r, _args, ctx) => ctx.answer.json(r, "params", "Run.params"),
    }),
    idempotencyKey: t.exposeString("idempotencyKey", {
      nullable: true,
      description: "The idempotency key given at creation, unique across runs; null when none was given.",
    }),
    createdAt: t.field({
      type: "DateTime",
      description: "When the run was created; its place in the queue among runs of equal priority.",
      resolve: (r) => r.createdAt,
    }),
    updatedAt: t.field({ type: "DateTime", description: "When the run's own state last changed.", resolve: (r) => r.updatedAt }),
    startedAt: t.field({
      type: "DateTime",
      nullable: true,
      description: "When its first tick started it; null while PENDING, and for a run cancelled or given up on before it started.",
      resolve: (r) => r.startedAt,
    }),
    finishedAt: t.field({
      type: "DateTime",
      nullable: true,
      description: "When it reached SUCCEEDED, FAILED or CANCELLED; null until then.",
      resolve: (r) => r.finishedAt,
    }),
    steps: t.field({
      type: [StepRef],
      description: "One per graph step, in a stable order: topological, then by step id.",
      resolve: (r, _args, ctx) => ctx.loadSteps(r.id),
    }),
    events: t.field({
      type: [RunEventRef],
      description: "The run's events with seq > afterSeq, in seq order.",
      args: {
        afterSeq: t.arg.int({ defaultValue: 0, description: "Only events with a larger seq; 0 (the default) starts at the first event." }),
        first: t.arg.int({ defaultValue: 100, description: "Most events to return, 1..1000 (default 100)." }),
      },
      resolve: (r, args, ctx) => {
        const page = eventPage(args);
        return ctx.forge.runEvents(r.id, page.afterSeq, page.first);
      },
    }),
    eventCount: t.int({ description: "How many events the run has: the seq of its latest event.", resolve: (r) => r.seq }),
    artifacts: t.field({
      type: [ArtifactRef],
      description: "Artifacts the run's steps wrote, oldest first.",
      resolve: (r, _args, ctx) => ctx.loadArtifacts(r.id),
    }),
    policy: t.field({
      type: "JSON",
      description: "The job type's policy as it stood when the run was created; later changes of the policy file do not change it.",
      resolve: (r, _args, ctx) => ctx.answer.json(r, "policy", "Run.policy"),
    }),
    lease: t.field({
      type: LeaseRef,
      nullable: true,
      description: "The lease of the ticker advancing the run right now; null when no ticker holds an unexpired one.",
      resolve: (r, _args, ctx) =>
        r.leaseOwner && r.leaseExpiresAt && r.leaseExpiresAt > ctx.forge.clock.now()
          ? { owner: r.leaseOwner, epoch: r.leaseEpoch, expiresAt: r.leaseExpiresAt }
          : null,
    }),
  }),
});

const RunEdgeRef = builder.objectRef<{ cursor: string; node: RunRecord }>("RunEdge").implement({
  description: "One run of a runs page, with the cursor that pages past it.",
  fields: (t) => ({
    cursor: t.exposeString("cursor", { description: "Opaque: pass it as runs(after:) to get the runs that follow this one." }),
    node: t.field({ type: RunRef, description: "The run at this position of the list.", resolve: (e) => e.node }),
  }),
});

interface PageInfo {
  hasNextPage: boolean;
  hasPreviousPage: boolean;
  startCursor: string | null;
  endCursor: string | null;
}

const PageInfoRef = builder.objectRef<PageInfo>("PageInfo").implement({
  description: "Where a page of a Relay cursor connection sits in the whole list.",
  fields: (t) => ({
    hasNextPage: t.exposeBoolean("hasNextPage", { description: "More items follow the last edge of this page." }),
    hasPreviousPage: t.exposeBoolean("hasPreviousPage", {
      description: "Items come before the first edge of this page: true when the page was asked for `after` a cursor.",
    }),
    startCursor: t.exposeString("startCursor", { nullable: true, description: "The first edge's cursor; null for an empty page." }),
    endCursor: t.exposeString("endCursor", { nullable: true, description: "The last edge's cursor; null for an empty page." }),
  }),
});

const RunConnectionRef = builder
  .objectRef<{ edges: Array<{ cursor: string; node: RunRecord }>; pageInfo: PageInfo }>("RunConnection")
  .implement({
    description: "A page of runs, newest first (a Relay cursor connection).",
    fields: (t) => ({
      edges: t.field({ type: [RunEdgeRef], description: "The page's runs, newest first, each with its cursor.", resolve: (c) => c.edges }),
      pageInfo: t.field({
        type: PageInfoRef,
        description: "Whether more runs follow, and the cursors of the page's ends.",
        resolve: (c) => c.pageInfo,
      }),
    }),
  });

function encodeCursor(run: RunRecord): string {
  return Buffer.from(JSON.stringify([run.createdAt.getTime(), run.id])).toString("base64url");
}

/** The instants a cursor may name: years 1 to 9999, which both databases store (PostgreSQL refuses some that JavaScript allows). */
const CURSOR_MS = { min: Date.parse("0001-01-01T00:00:00.000Z"), max: Date.parse("9999-12-31T23:59:59.999Z") };

function decodeCursor(cursor: string): RunCursor {
  try {
    const [ms, id] = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as unknown[];
    // The decoded text came from the client, not from Forge: checked like any input.
    if (typeof ms === "number" && Number.isSafeInteger(ms) && ms >= CURSOR_MS.min && ms <= CURSOR_MS.max) {
      if (typeof id === "string" && textProblem(id) === null) return { createdAt: new Date(ms), id };
    }
  } catch {
    // fall through to the error below
  }
  throw new InvalidInput("after", "is not a cursor returned by runs");
}

builder.queryField("run", (t) =>
  t.field({
    type: RunRef,
    nullable: true,
    description: "The run with this id; null when there is none.",
    args: { id: t.arg.id({ required: true, description: "The run's id." }) },
    resolve: (_root, args, ctx) => ctx.forge.getRun(args.id),
  }),
);

builder.queryField("runs", (t) =>
  t.field({
    type: RunConnectionRef,
    description: "Runs matching every filter given, newest first (by createdAt, then id), one page at a time.",
    args: {
      first: t.arg.int({ defaultValue: 50, description: "Page size, 1..500 (default 50)." }),
      after: t.arg.string({
        description:
          "A cursor from an earlier page (an edge's cursor or pageInfo.endCursor): the page starts after it; absent: at the newest run.",
      }),
      status: t.arg({ type: RunStatusEnum, description: "Only runs with this status; absent: any status." }),
      jobType: t.arg.string({ description: "Only runs of this job type; absent: any job type." }),
      lane: t.arg.string({ description: "Only runs in this lane; absent: any lane." }),
    },
    resolve: async (_root, args, ctx) => {
      const first = intInRange("first", args.first, 1, 500, 50);
      const after = args.after ? decodeCursor(args.after) : null;
      const rows = await ctx.forge.listRuns({ status: args.status, jobType: args.jobType, lane: args.lane }, first + 1, after);
      const page = rows.slice(0, first);
      const edges = page.map((node) => ({ cursor: encodeCursor(node), node }));
      return {
        edges,
        pageInfo: {
          hasNextPage: rows.length > first,
          // Paging forward, a cursor names a run the client has already seen: something precedes this page.
          hasPreviousPage: after !== null,
          startCursor: edges[0]?.cursor ?? null,
          endCursor: edges.at(-1)?.cursor ?? null,
        },
      };
    },
  }),
);

const CreateRunInputRef = builder.inputType("CreateRunInput", {
  description: "A run to create: its graph, its parameters and where it queues.",
  fields: (t) => ({
    id: t.id({ description: "Optional; generated when absent; 1-128 chars of [A-Za-z0-9._:-]." }),
    mode: t.field({
      type: RunModeEnum,
      required: true,
      description:
        "LIVE, or DRY_RUN where side-effecting steps only report what they would do; the job type's policy may allow only some modes.",
    }),
    jobType: t.string({
      required: true,
      description: "The job type, which picks the policy the run is checked against: 1-128 chars of [A-Za-z0-9._:-].",
    }),
    requestedBy: t.string({ required: true, description: "Who asks for the run: 1-256 chars, not blank." }),
    lane: t.string({
      defaultValue: "default",
      description: 'The lane to queue the run in: 1-128 chars of [A-Za-z0-9._:-]; default "default".',
    }),
    priority: t.int({
      defaultValue: 0,
      description: "-1000..1000, default 0; higher priorities are ticked first, FIFO by createdAt among equals.",
    }),
    graph: t.field({
      type: "JSON",
      required: true,
      description:
        "The step graph, { steps: { <stepId>: { type, deps, params, retry, timeoutMs } }, initial_step }: a DAG of at least one step " +
        "that the job type's policy allows.",
    }),
    // No SDL default: graphql-js cannot print an object default, which broke the standard introspection query.
    params: t.field({ type: "JSON", description: "The run's parameters (a JSON object); absent or null means {}." }),
    idempotencyKey: t.string({
      description:
        "1-256 chars: a key already used returns that run when the input is the same and fails with CONFLICT when it differs; absent or null: no deduplication.",
    }),
  }),
});

builder.mutationField("createRun", (t) =>
  t.field({
    type: RunRef,
    description:
      "Validates the input and its graph, then stores the run as PENDING and appends run_created (seq 1) in one transaction. " +
      "An explicit id that already exists is CONFLICT.",
    args: { input: t.arg({ type: CreateRunInputRef, required: true, description: "The run to create." }) },
    resolve: (_root, { input }, ctx) => ctx.forge.createRun(input),
  }),
);

builder.mutationField("createRuns", (t) =>
  t.field({
    type: [RunRef],
    description:
      "Creates 1..500 runs in one transaction, all or none; errors name the input by index (inputs[3].graph...). " +
      "Runs come back in input order.",
    args: { inputs: t.arg({ type: [CreateRunInputRef], required: true, description: "The runs to create, 1..500 of them." }) },
    resolve: (_root, { inputs }, ctx) => ctx.forge.createRuns(inputs),
  }),
);

builder.mutationField("cancelRun", (t) =>
  t.field({
    type: RunRef,
    description:
      "Admin. Cancels a run that is not finished (its unfinished steps become CANCELLED, in-flight attempts are aborted, run_cancelled " +
      "is appended); a finished run is returned unchanged.",
    args: { id: t.arg.id({ required: true, description: "The run to cancel; an unknown id is NOT_FOUND." }) },
    resolve: (_root, args, ctx) => adminAction(ctx, "cancelRun", args.id, () => ctx.forge.cancelRun(args.id)),
  }),
);

builder.mutationField("signalRun", (t) =>
  t.field({
    type: RunRef,
    description:
      "Admin. Delivers `payload` to a step waiting for a signal (an approval), which succeeds with it as its output. " +
      "NOT_FOUND for an unknown run; BAD_USER_INPUT when the step does not exist or is not waiting for a signal.",
    args: {
      runId: t.arg.id({ required: true, description: "The run holding the waiting step." }),
      stepId: t.arg.string({ required: true, description: "The waiting step's key in graph.steps." }),
      payload: t.arg({ type: "JSON", description: "The step's output once it succeeds; absent means null." }),
    },
    resolve: (_root, args, ctx) =>
      adminAction(
        ctx,
        "signalRun",
        args.runId,
        () => ctx.forge.signalRun(args.runId, args.stepId, args.payload ?? null),
        () => ({ stepId: args.stepId }),
      ),
  }),
);
