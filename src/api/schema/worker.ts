import type { WorkerStatus } from "../../engine/forge.ts";
import { requireAdmin } from "../auth.ts";
import { builder } from "../builder.ts";

const WorkerStatusRef = builder.objectRef<WorkerStatus>("WorkerStatus").implement({
  fields: (t) => ({
    enabled: t.exposeBoolean("enabled", { description: "FORGE_WORKER_ENABLED." }),
    running: t.exposeBoolean("running"),
    workerId: t.exposeString("workerId", { nullable: true }),
    ticks: t.exposeInt("ticks"),
    lastTickAt: t.field({ type: "DateTime", nullable: true, resolve: (w) => w.lastTickAt }),
    queueDepth: t.exposeInt("queueDepth", { description: "Runs waiting to be ticked." }),
    oldestQueuedAt: t.field({ type: "DateTime", nullable: true, resolve: (w) => w.oldestQueuedAt }),
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
