import type { ForgeClient } from "./client.ts";
import { json, record, time } from "./format.ts";
import type { Output } from "./runs.ts";

/** `forge tick` and `forge status`: the admin operations on the queue and the worker. */

interface TickResultJson {
  ticked: number;
  succeeded: number;
  failed: number;
  skippedLeased: number;
  runIds: string[];
}

export async function tick(client: ForgeClient, options: { limit: number; json: boolean }, io: Output): Promise<number> {
  const data = await client.request<{ tickOnce: TickResultJson }>(
    "mutation Tick($limit: Int!) { tickOnce(limit: $limit) { ticked succeeded failed skippedLeased runIds } }",
    { limit: options.limit },
  );
  const result = data.tickOnce;
  if (options.json) {
    io.out.write(`${json(result)}\n`);
    return 0;
  }
  io.out.write(
    `${record([
      ["ticked", result.ticked],
      ["succeeded", result.succeeded],
      ["failed", result.failed],
      ["skipped (leased)", result.skippedLeased],
      ["runs", result.runIds.length > 0 ? result.runIds.join(", ") : null],
    ])}\n`,
  );
  return 0;
}

interface WorkerStatusJson {
  enabled: boolean;
  running: boolean;
  workerId: string | null;
  ticks: number;
  lastTickAt: string | null;
  queueDepth: number;
  oldestQueuedAt: string | null;
}

export async function status(client: ForgeClient, options: { json: boolean }, io: Output): Promise<number> {
  const data = await client.request<{ workerStatus: WorkerStatusJson }>(
    "query Status { workerStatus { enabled running workerId ticks lastTickAt queueDepth oldestQueuedAt } }",
  );
  // /readyz never needs a token: whether the database answers and every migration is applied.
  const ready = await client.route("/readyz");
  const readiness = ready.body as { status?: string; reason?: string } | null;
  const server = { url: client.url, ready: ready.status === 200, reason: readiness?.reason ?? null };
  const worker = data.workerStatus;
  if (options.json) {
    io.out.write(`${json({ server, worker })}\n`);
    return 0;
  }
  io.out.write(
    `${record([
      ["server", client.url],
      ["ready", server.ready ? "yes" : `no (${server.reason ?? `HTTP ${ready.status}`})`],
      ["worker", worker.running ? `running (${worker.workerId ?? "unnamed"})` : worker.enabled ? "enabled, not running" : "not running"],
      ["ticks", worker.ticks],
      ["last tick", time(worker.lastTickAt)],
      ["queue depth", worker.queueDepth],
      ["oldest queued", time(worker.oldestQueuedAt)],
    ])}\n`,
  );
  return 0;
}
