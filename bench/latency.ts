import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { loadConfig } from "../src/config.ts";
import { buildApp } from "../src/server.ts";
import { fmt, freshDbFile, percentile, printTable } from "./support.ts";

/**
 * Event latency from commit to a graphql-ws subscriber. A child process holds
 * `subscribers` connections, each following the `events` subscription (so the clients'
 * own work does not run on the server's event loop); this process creates runs one at a
 * time, notes when each createRun transaction has committed, and the latency of a
 * delivery is its arrival time in the child minus that commit time.
 */
export interface DeliveryOptions {
  /** ws:// URL of the server the subscribers connect to. */
  wsUrl: string;
  subscribers: number;
  events: number;
  gapMs: number;
  /** Creates one run and resolves once it has committed. */
  createRun: () => Promise<{ id: string }>;
  /** How long to wait after the last run for deliveries still on their way. */
  settleMs: number;
}

/** Every delivery's latency in milliseconds, sorted. */
export async function measureDeliveries(o: DeliveryOptions): Promise<number[]> {
  const child = fork(fileURLToPath(new URL("./latency-clients.ts", import.meta.url)), [o.wsUrl, String(o.subscribers)], {
    execArgv: ["--import", "tsx"],
  });
  const messages: Array<{ ready?: boolean; arrivals?: Array<[string, number]> }> = [];
  child.on("message", (m) => messages.push(m as never));
  const until = async (test: () => boolean) => {
    while (!test()) await new Promise((r) => setTimeout(r, 10));
  };
  await until(() => messages.some((m) => m.ready));
  // Let every subscription reach the server before the first event.
  await new Promise((r) => setTimeout(r, 300));

  const committedAt = new Map<string, number>();
  for (let i = 0; i < o.events; i++) {
    const run = await o.createRun();
    committedAt.set(run.id, performance.timeOrigin + performance.now());
    await new Promise((r) => setTimeout(r, o.gapMs));
  }
  await new Promise((r) => setTimeout(r, o.settleMs));
  child.send({ stop: true });
  await until(() => messages.some((m) => m.arrivals));

  const arrivals = messages.find((m) => m.arrivals)?.arrivals ?? [];
  const latencies = arrivals.flatMap(([runId, at]) => {
    const committed = committedAt.get(runId);
    return committed === undefined ? [] : [at - committed];
  });
  return latencies.sort((a, b) => a - b);
}

export function printLatency(title: string, latencies: number[], expected: number): void {
  printTable(
    title,
    ["deliveries", "p50 ms", "p99 ms", "max ms"],
    [
      [
        `${fmt(latencies.length)} of ${fmt(expected)}`,
        fmt(percentile(latencies, 50), 2),
        fmt(percentile(latencies, 99), 2),
        fmt(latencies.at(-1) ?? Number.NaN, 2),
      ],
    ],
  );
}

export const noopRun = { mode: "LIVE" as const, jobType: "bench", requestedBy: "bench", graph: { steps: { a: { type: "noop" } } } };

export async function benchLatency(o: { subscribers: number; events: number; gapMs: number }): Promise<{ p99: number }> {
  const config = loadConfig({ DATABASE_URL: `file:${freshDbFile()}`, FORGE_PORT: "0", LOG_LEVEL: "silent" });
  const app = await buildApp(config, { log: pino({ level: "silent" }) });
  const wsUrl = (await app.start()).replace(/^http/, "ws");
  const latencies = await measureDeliveries({ ...o, wsUrl, settleMs: 500, createRun: () => app.forge.createRun(noopRun) });
  await app.stop();
  printLatency(
    `Event latency, commit to graphql-ws subscriber: ${o.subscribers} subscribers in another process, ${o.events} events ${o.gapMs} ms apart`,
    latencies,
    o.subscribers * o.events,
  );
  return { p99: percentile(latencies, 99) };
}
