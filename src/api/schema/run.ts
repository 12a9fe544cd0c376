import { textProblem } from "../../domain/json.ts";
import { RUN_MODES, RUN_STATUSES } from "../../domain/status.ts";
import { InvalidInput } from "../../errors.ts";
import type { RunRecord } from "../../store/records.ts";
import type { RunCursor } from "../../store/runs.ts";
import { intInRange } from "../args.ts";
import { requireAdmin } from "../auth.ts";
import { builder } from "../builder.ts";
import { ArtifactRef } from "./artifact.ts";
import { eventPage, RunEventRef } from "./event.ts";
import { StepRef } from "./step.ts";

const RunStatusEnum = builder.enumType("RunStatus", { values: RUN_STATUSES });
const RunModeEnum = builder.enumType("RunMode", { values: RUN_MODES });

interface LeaseView {
  owner: string;
  epoch: number;
  expiresAt: Date;
}

const LeaseRef = builder.objectRef<LeaseView>("Lease").implement({
  fields: (t) => ({
    owner: t.exposeString("owner", { description: "Worker or ticker id." }),
    epoch: t.exposeInt("epoch", { description: "Fencing token: increases every time the lease changes hands." }),
    expiresAt: t.field({ type: "DateTime", resolve: (l) => l.expiresAt }),
  }),
});

export const RunRef = builder.objectRef<RunRecord>("Run").implement({
  description: "A run of a step graph.",
  fields: (t) => ({
    id: t.exposeID("id"),
    mode: t.field({ type: RunModeEnum, resolve: (r) => r.mode }),
    jobType: t.exposeString("jobType"),
    lane: t.exposeString("lane"),
    requestedBy: t.exposeString("requestedBy"),
    priority: t.exposeInt("priority"),
    status: t.field({ type: RunStatusEnum, resolve: (r) => r.status }),
    graph: t.field({
      type: "JSON",
      description: "The graph as accepted (every step has deps).",
      resolve: (r, _args, ctx) => ctx.answer.json(r, "graph", "Run.graph"),
    }),
    params: t.field({ type: "JSON", resolve: (r, _args, ctx) => ctx.answer.json(r, "params", "Run.params") }),
    idempotencyKey: t.exposeString("idempotencyKey", { nullable: true }),
    createdAt: t.field({ type: "DateTime", resolve: (r) => r.createdAt }),
    updatedAt: t.field({ type: "DateTime", resolve: (r) => r.updatedAt }),
    startedAt: t.field({ type: "DateTime", nullable: true, resolve: (r) => r.startedAt }),
    finishedAt: t.field({ type: "DateTime", nullable: true, resolve: (r) => r.finishedAt }),
    steps: t.field({
      type: [StepRef],
      description: "One per graph step, topological order, then by id.",
      resolve: (r, _args, ctx) => ctx.loadSteps(r.id),
    }),
    events: t.field({
      type: [RunEventRef],
      description: "Events with seq > afterSeq, ascending (first: 1..1000).",
      args: { afterSeq: t.arg.int({ defaultValue: 0 }), first: t.arg.int({ defaultValue: 100 }) },
      resolve: (r, args, ctx) => {
        const page = eventPage(args);
        return ctx.forge.runEvents(r.id, page.afterSeq, page.first);
      },
    }),
    eventCount: t.int({ resolve: (r) => r.seq }),
    artifacts: t.field({
      type: [ArtifactRef],
      description: "Artifacts the run's steps wrote, oldest first.",
      resolve: (r, _args, ctx) => ctx.loadArtifacts(r.id),
    }),
    policy: t.field({
      type: "JSON",
      description: "The job type's policy as it stood when the run was created (API.md, Policies).",
      resolve: (r, _args, ctx) => ctx.answer.json(r, "policy", "Run.policy"),
    }),
    lease: t.field({
      type: LeaseRef,
      nullable: true,
      description: "Null when no live lease.",
      resolve: (r, _args, ctx) =>
        r.leaseOwner && r.leaseExpiresAt && r.leaseExpiresAt > ctx.forge.clock.now()
          ? { owner: r.leaseOwner, epoch: r.leaseEpoch, expiresAt: r.leaseExpiresAt }
          : null,
    }),
  }),
});

const RunEdgeRef = builder.objectRef<{ cursor: string; node: RunRecord }>("RunEdge").implement({
  fields: (t) => ({ cursor: t.exposeString("cursor"), node: t.field({ type: RunRef, resolve: (e) => e.node }) }),
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
    fields: (t) => ({
      edges: t.field({ type: [RunEdgeRef], resolve: (c) => c.edges }),
      pageInfo: t.field({ type: PageInfoRef, resolve: (c) => c.pageInfo }),
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
    description: "Null when absent.",
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => ctx.forge.getRun(args.id),
  }),
);

builder.queryField("runs", (t) =>
  t.field({
    type: RunConnectionRef,
    description: "Newest first (first: 1..500).",
    args: {
      first: t.arg.int({ defaultValue: 50 }),
      after: t.arg.string(),
      status: t.arg({ type: RunStatusEnum }),
      jobType: t.arg.string(),
      lane: t.arg.string(),
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
  fields: (t) => ({
    id: t.id({ description: "Optional; generated when absent; 1-128 chars of [A-Za-z0-9._:-]." }),
    mode: t.field({ type: RunModeEnum, required: true }),
    jobType: t.string({ required: true, description: "1-128 chars of [A-Za-z0-9._:-]." }),
    requestedBy: t.string({ required: true, description: "1-256 chars, not blank." }),
    lane: t.string({ defaultValue: "default", description: "1-128 chars of [A-Za-z0-9._:-]." }),
    priority: t.int({ defaultValue: 0, description: "-1000..1000; higher first; FIFO by createdAt among equals." }),
    graph: t.field({ type: "JSON", required: true }),
    // No SDL default: graphql-js cannot print an object default, which broke the standard introspection query.
    params: t.field({ type: "JSON", description: "The run's parameters (a JSON object); absent or null means {}." }),
    idempotencyKey: t.string(),
  }),
});

builder.mutationField("createRun", (t) =>
  t.field({
    type: RunRef,
    args: { input: t.arg({ type: CreateRunInputRef, required: true }) },
    resolve: (_root, { input }, ctx) => ctx.forge.createRun(input),
  }),
);

builder.mutationField("createRuns", (t) =>
  t.field({
    type: [RunRef],
    description:
      "Creates 1..500 runs in one transaction, all or none; errors name the input by index (inputs[3].graph...). " +
      "Runs come back in input order.",
    args: { inputs: t.arg({ type: [CreateRunInputRef], required: true }) },
    resolve: (_root, { inputs }, ctx) => ctx.forge.createRuns(inputs),
  }),
);

builder.mutationField("cancelRun", (t) =>
  t.field({
    type: RunRef,
    description: "Admin. Cancels a run that is not finished; a finished run is returned unchanged.",
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) => {
      requireAdmin(ctx.access);
      return ctx.forge.cancelRun(args.id);
    },
  }),
);

builder.mutationField("signalRun", (t) =>
  t.field({
    type: RunRef,
    description:
      "Admin. Delivers `payload` to a step waiting for a signal (an approval), which succeeds with it as its output. " +
      "NOT_FOUND for an unknown run; BAD_USER_INPUT when the step does not exist or is not waiting for a signal.",
    args: {
      runId: t.arg.id({ required: true }),
      stepId: t.arg.string({ required: true }),
      payload: t.arg({ type: "JSON" }),
    },
    resolve: async (_root, args, ctx) => {
      requireAdmin(ctx.access);
      return ctx.forge.signalRun(args.runId, args.stepId, args.payload ?? null);
    },
  }),
);
