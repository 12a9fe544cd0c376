import type { WorkerStatus } from "../../engine/forge.ts";
import type { LaneQueue, WorkerRow } from "../../store/workers.ts";
import { requireAdmin } from "../auth.ts";
import { builder } from "../builder.ts";

const LaneQueueRef = builder.objectRef<LaneQueue>("LaneQueue").implement({
  description: "The runs of one lane that are due now and not leased.",
  fields: (t) => ({
    lane: t.exposeString("lane", { description: "The lane." }),
    depth: t.exposeInt("depth", { description: "Runs of the lane due now and not leased." }),
    oldestQueuedAt: t.field({
      type: "DateTime",
      nullable: true,
      description: "The earliest due time among them.",
      resolve: (l) => l.oldestDueAt,
    }),
  }),
});

const LiveWorkerRef = builder.objectRef<WorkerRow>("LiveWorker").implement({
  description: "A worker process with a recent heartbeat (within three heartbeat intervals).",
  fields: (t) => ({
    id: t.exposeString("id", { description: "The worker's id: host:pid:random." }),
    startedAt: t.field({ type: "DateTime", description: "When the worker started.", resolve: (w) => w.startedAt }),
    heartbeatAt: t.field({ type: "DateTime", description: "When the worker last wrote its heartbeat.", resolve: (w) => w.heartbeatAt }),
    ticks: t.exposeInt("ticks", { description: "Ticks the worker had completed at its last heartbeat." }),
    lastTickAt: t.field({
      type: "DateTime",
      nullable: true,
      description: "When the worker last completed a tick, as of its last heartbeat.",
      resolve: (w) => w.lastTickAt,
    }),
  }),
});

const WorkerStatusRef = builder.objectRef<WorkerStatus>("WorkerStatus").implement({
  description: "The background worker that ticks runs (this process's, or else the freshest live one elsewhere) and the queue it works on.",
  fields: (t) => ({
    enabled: t.exposeBoolean("enabled", { description: "Whether FORGE_WORKER_ENABLED starts a background worker in this process." }),
    running: t.exposeBoolean("running", {
      description: "Whether that worker is running: this process's, or, without one here, a worker elsewhere with a recent heartbeat.",
    }),
    workerId: t.exposeString("workerId", {
      nullable: true,
      description: "The id of the worker reported on; null when this process has none and no other worker is live.",
    }),
    ticks: t.exposeInt("ticks", { description: "Ticks that worker has completed since it started; 0 when there is none." }),
    lastTickAt: t.field({
      type: "DateTime",
      nullable: true,
      description: "When that worker last completed a tick; null before its first, or when there is no worker.",
      resolve: (w) => w.lastTickAt,
    }),
    queueDepth: t.exposeInt("queueDepth", { description: "Runs due now, waiting to be ticked." }),
    oldestQueuedAt: t.field({
      type: "DateTime",
      nullable: true,
      description: "The earliest due time among the runs waiting to be ticked; null when none wait.",
      resolve: (w) => w.oldestQueuedAt,
    }),
    lanes: t.field({
      type: [LaneQueueRef],
      description: "The queue per lane: each lane with runs due now and not leased, by lane name.",
      resolve: (w) => w.lanes,
    }),
    workers: t.field({
      type: [LiveWorkerRef],
      description: "Every worker process with a recent heartbeat, freshest first.",
      resolve: (w) => w.workers,
    }),
  }),
});

builder.queryField("workerStatus", (t) =>
  t.field({
    type: WorkerStatusRef,
    description: "Admin. Whether the worker is alive and how deep the queue is.",
    resolve: (_root, _args, ctx) => {
      requireAdmin(ctx.access);
      return ctx.forge.workerStatus();
    },
  }),
);
