/*
 * The lifecycle part of the API (API.md, "Lifecycle: re-runs, bulk actions, pauses,
 * retention, why a run waits"): the engine's Lifecycle system and Run.waiting.
 */

import type { RunStatus } from "../../domain/status.ts";
import type { PauseScope, Waiting, WaitReason } from "../../domain/waiting.ts";
import type { BulkResult, PruneResult } from "../../engine/lifecycle.ts";
import { InvalidInput } from "../../errors.ts";
import { adminAction } from "../admin.ts";
import { requireAdmin } from "../auth.ts";
import { builder } from "../builder.ts";
import { RunRef, RunStatusEnum } from "./run.ts";

const WaitReasonEnum = builder.enumType("WaitReason", {
  description: "Why a run is not moving (Run.waiting).",
  values: {
    QUEUED: { description: "Due, waiting for its turn with a worker." },
    LEASED: { description: "A ticker that has not been heard from holds its lease; `until` is when the lease runs out." },
    LANE_CAP: { description: "Its lane has as many running runs as its policy's laneConcurrency allows; `detail` names the cap." },
    CONCURRENCY_KEY: { description: "Its concurrency key has as many running runs as the policy allows." },
    RATE_LIMIT: { description: "A rate limit it needs has no room; `until` is when the next room comes." },
    PAUSED: { description: "Its lane or job type is paused (pause); it goes on after resume." },
    TIMER: { description: "A step waits on a timer (a sleep); `until` is when it is due." },
    RETRY_BACKOFF: { description: "A step (or the run's commit) failed and is retried after a backoff; `until` is the next try." },
    SIGNAL: { description: "A step waits for a signal (an approval, signalRun); `detail` names it." },
    TASK: { description: "A step waits for a remote worker to complete its task." },
    CHILD_RUN: { description: "A step waits for the child run it started." },
  } satisfies Record<WaitReason, { description: string }>,
});

const WaitingRef = builder.objectRef<Waiting>("Waiting").implement({
  description: "Why a run does not move, derived from its state when asked (never stored).",
  fields: (t) => ({
    reason: t.field({ type: WaitReasonEnum, description: "The kind of wait.", resolve: (w) => w.reason }),
    until: t.field({
      type: "DateTime",
      nullable: true,
      description: "When the wait ends by itself (a lease expiry, a timer, a retry); null when it waits on something else.",
      resolve: (w) => w.until,
    }),
    detail: t.exposeString("detail", { description: "One sentence for a person: what it waits for." }),
  }),
});

const RunFilterRef = builder.inputType("RunFilter", {
  description: "Which runs a bulk action acts on: those matching every condition given. At least one must be given.",
  fields: (t) => ({
    ids: t.idList({ description: "Only these runs (1 to 10,000 ids)." }),
    status: t.field({ type: [RunStatusEnum], description: "Only runs with one of these statuses." }),
    jobType: t.string({ description: "Only runs of this job type." }),
    lane: t.string({ description: "Only runs in this lane." }),
    createdAfter: t.field({ type: "DateTime", description: "Only runs created strictly after this instant." }),
    createdBefore: t.field({ type: "DateTime", description: "Only runs created strictly before this instant." }),
  }),
});

const BulkResultRef = builder.objectRef<BulkResult>("BulkResult").implement({
  description: "What a bulk action found and did (or, with dryRun, would do).",
  fields: (t) => ({
    matched: t.exposeInt("matched", { description: "Runs matching the filter when the action ran." }),
    affected: t.exposeInt("affected", { description: "Runs it cancelled or re-ran (with dryRun: would have)." }),
    runIds: t.exposeIDList("runIds", {
      description: "The first 1000 affected runs (for rerunRuns the runs re-run; their new runs are in Run.reruns).",
    }),
    dryRun: t.exposeBoolean("dryRun", { description: "True when nothing was changed." }),
  }),
});

const PauseRef = builder.objectRef<PauseScope>("Pause").implement({
  description: "A pause: runs of the lane and/or job type are not claimed while it lasts.",
  fields: (t) => ({
    lane: t.exposeString("lane", { nullable: true, description: "The lane paused; null: any lane (the pause names a job type)." }),
    jobType: t.exposeString("jobType", {
      nullable: true,
      description: "The job type paused; null: any job type (the pause names a lane).",
    }),
    pausedAt: t.field({ type: "DateTime", description: "When it was paused.", resolve: (p) => p.pausedAt }),
    reason: t.exposeString("reason", { nullable: true, description: "Why, as given to pause." }),
  }),
});

const PruneResultRef = builder.objectRef<PruneResult>("PruneResult").implement({
  description: "What pruneRuns deleted (or, with dryRun, would delete).",
  fields: (t) => ({
    runs: t.exposeInt("runs", { description: "Runs deleted." }),
    events: t.exposeInt("events", { description: "Their events deleted." }),
    artifacts: t.exposeInt("artifacts", { description: "Their artifacts deleted." }),
    dryRun: t.exposeBoolean("dryRun", { description: "True when nothing was deleted." }),
  }),
});

builder.objectFields(RunRef, (t) => ({
  rerunOf: t.exposeID("rerunOf", {
    nullable: true,
    description: "The run this one re-runs (rerunRun); null for runs created by createRun(s).",
  }),
  reruns: t.idList({
    description: "Runs made from this one by rerunRun or rerunRuns, oldest first.",
    resolve: (r, _args, ctx) => ctx.loadReruns(r.id),
  }),
  waiting: t.field({
    type: WaitingRef,
    nullable: true,
    description: "Why the run is not moving; null when it is terminal or being advanced right now.",
    resolve: (r, _args, ctx) => ctx.loadWaiting(r),
  }),
}));

builder.queryField("pauses", (t) =>
  t.field({
    type: [PauseRef],
    description: "Admin. Every pause in force, oldest first.",
    resolve: (_root, _args, ctx) => {
      requireAdmin(ctx.access);
      return ctx.forge.lifecycle.pauses();
    },
  }),
);

const filterTarget = (filter: object) => JSON.stringify(filter);

builder.mutationFields((t) => ({
  rerunRun: t.field({
    type: RunRef,
    description:
      "Admin. A new run of a finished run's graph and params, in one transaction: steps that succeeded and do not depend on `fromStep` " +
      "(or, without it, on any step that did not succeed) start SUCCEEDED with their outputs and artifacts (step_reused); the rest run again.",
    args: {
      id: t.arg.id({ required: true, description: "The finished run to re-run; an unknown id is NOT_FOUND." }),
      fromStep: t.arg.string({ description: "Run this step and everything downstream of it again, whatever they did." }),
    },
    resolve: (_root, args, ctx) =>
      adminAction(
        ctx,
        "rerunRun",
        args.id,
        () => ctx.forge.lifecycle.rerun(args.id, args.fromStep ?? null),
        (run) => ({ fromStep: args.fromStep ?? null, rerunId: run.id }),
      ),
  }),
  cancelRuns: t.field({
    type: BulkResultRef,
    description: "Admin. Cancels every unfinished run matching the filter, in batches of one transaction each. An empty filter is refused.",
    args: {
      filter: t.arg({ type: RunFilterRef, required: true, description: "The runs to cancel." }),
      dryRun: t.arg.boolean({ defaultValue: false, description: "Count what would be cancelled; change nothing." }),
    },
    resolve: (_root, args, ctx) =>
      adminAction(
        ctx,
        args.dryRun ? "cancelRuns(dryRun)" : "cancelRuns",
        filterTarget(args.filter),
        () => ctx.forge.lifecycle.cancelMatching(args.filter, dryRunArg(args.dryRun)),
        (r) => ({ matched: r.matched, affected: r.affected }),
      ),
  }),
  rerunRuns: t.field({
    type: BulkResultRef,
    description:
      "Admin. Re-runs (as rerunRun without fromStep) every FAILED or CANCELLED run matching the filter that has no re-run yet, " +
      "in batches of one transaction each. An empty filter is refused.",
    args: {
      filter: t.arg({ type: RunFilterRef, required: true, description: "The runs to re-run." }),
      dryRun: t.arg.boolean({ defaultValue: false, description: "Count what would be re-run; change nothing." }),
    },
    resolve: (_root, args, ctx) =>
      adminAction(
        ctx,
        args.dryRun ? "rerunRuns(dryRun)" : "rerunRuns",
        filterTarget(args.filter),
        () => ctx.forge.lifecycle.rerunMatching(args.filter, dryRunArg(args.dryRun)),
        (r) => ({ matched: r.matched, affected: r.affected }),
      ),
  }),
  pause: t.field({
    type: PauseRef,
    description:
      "Admin. Stops every process from claiming runs of the lane and/or job type (both given: runs of that lane and that job type). " +
      "Steps already running finish; their runs then wait. Pausing again keeps pausedAt and takes a new reason.",
    args: {
      lane: t.arg.string({ description: "The lane to pause." }),
      jobType: t.arg.string({ description: "The job type to pause." }),
      reason: t.arg.string({ description: "Why, for whoever looks (1-1024 characters)." }),
    },
    resolve: (_root, args, ctx) =>
      adminAction(
        ctx,
        "pause",
        scopeTarget(args.lane, args.jobType),
        () => ctx.forge.lifecycle.pause(args.lane ?? null, args.jobType ?? null, args.reason ?? null),
        () => ({ reason: args.reason ?? null }),
      ),
  }),
  resume: t.field({
    type: "Boolean",
    description: "Admin. Lifts the pause with exactly this lane and job type; its runs go on at the next tick. False when there was none.",
    args: {
      lane: t.arg.string({ description: "The lane of the pause to lift." }),
      jobType: t.arg.string({ description: "The job type of the pause to lift." }),
    },
    resolve: (_root, args, ctx) =>
      adminAction(
        ctx,
        "resume",
        scopeTarget(args.lane, args.jobType),
        () => ctx.forge.lifecycle.resume(args.lane ?? null, args.jobType ?? null),
        (lifted) => ({ lifted }),
      ),
  }),
  pruneRuns: t.field({
    type: PruneResultRef,
    description:
      "Admin. Deletes finished runs that finished before the instant, with their steps, events and artifacts, in batches. " +
      "Pruned runs are gone: run returns null and runEvents NOT_FOUND; the events subscription goes on past them.",
    args: {
      finishedBefore: t.arg({ type: "DateTime", required: true, description: "Prune runs that finished strictly before this." }),
      status: t.arg({
        type: [RunStatusEnum],
        description: "Only runs with these (finished) statuses; absent: SUCCEEDED, FAILED and CANCELLED.",
      }),
      dryRun: t.arg.boolean({ defaultValue: false, description: "Count what would be deleted; delete nothing." }),
    },
    resolve: (_root, args, ctx) =>
      adminAction(
        ctx,
        args.dryRun ? "pruneRuns(dryRun)" : "pruneRuns",
        null,
        () =>
          ctx.forge.lifecycle.prune(args.finishedBefore, (args.status as RunStatus[] | null | undefined) ?? null, dryRunArg(args.dryRun)),
        (r) => ({ finishedBefore: args.finishedBefore.toISOString(), runs: r.runs, events: r.events, artifacts: r.artifacts }),
      ),
  }),
}));

/** `dryRun`: an explicit null is refused rather than taken as false, since false deletes or cancels for real. */
function dryRunArg(value: boolean | null | undefined): boolean {
  if (value === null) throw new InvalidInput("dryRun", "must be true or false (null is neither)");
  return value ?? false;
}

function scopeTarget(lane: string | null | undefined, jobType: string | null | undefined): string {
  return [lane != null ? `lane:${lane}` : null, jobType != null ? `jobType:${jobType}` : null].filter(Boolean).join(" ");
}
