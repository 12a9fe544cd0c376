import { createClient } from "graphql-ws";
import { pino } from "pino";
import WebSocket from "ws";
import { loadConfig } from "../src/config.ts";
import { buildApp } from "../src/server.ts";
import { fmt, freshDbFile, percentile, printTable } from "./support.ts";

/**
 * Event latency from commit to a graphql-ws subscriber: `subscribers` clients, each on its
 * own connection, follow the `events` subscription; the bench creates runs one at a time,
 * notes when each createRun transaction has committed, and every client notes when the
 * run's `run_created` reaches it.
 */
export async function benchLatency(o: { subscribers: number; events: number; gapMs: number }): Promise<{ p99: number }> {
  const config = loadConfig({ DATABASE_URL: `file:${freshDbFile()}`, FORGE_PORT: "0", LOG_LEVEL: "silent" });
  const app = await buildApp(config, { log: pino({ level: "silent" }) });
  const url = (await app.start()).replace(/^http/, "ws");
  const committedAt = new Map<string, number>();
  const latencies: number[] = [];
  let received = 0;
  const clients = Array.from({ length: o.subscribers }, () => createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0 }));
  const ready: Promise<void>[] = [];
  for (const client of clients) {
    ready.push(
      new Promise<void>((resolve) => {
        client.on("connected", () => resolve());
      }),
    );
    client.subscribe<{ events: { runId: string } }>(
      { query: "subscription { events { runId } }" },
      {
        next: (value) => {
          const at = performance.now();
          const runId = value.data?.events.runId as string;
          const committed = committedAt.get(runId);
          if (committed !== undefined) latencies.push(at - committed);
          received++;
        },
        error: (error) => console.error("subscriber error", error),
        complete: () => {},
      },
    );
  }
  await Promise.all(ready);
  // Give every subscription time to be registered on the server before the first event.
  await new Promise((r) => setTimeout(r, 200));

  for (let i = 0; i < o.events; i++) {
    const run = await app.forge.createRun({
      mode: "LIVE",
      jobType: "bench",
      requestedBy: "bench",
      graph: { steps: { a: { type: "noop" } } },
    });
    committedAt.set(run.id, performance.now());
    await new Promise((r) => setTimeout(r, o.gapMs));
  }
  const expected = o.subscribers * o.events;
  const deadline = Date.now() + 10_000;
  while (received < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  for (const client of clients) await client.dispose();
  await app.stop();

  latencies.sort((a, b) => a - b);
  const p50 = percentile(latencies, 50);
  const p99 = percentile(latencies, 99);
  printTable(
    `Event latency, commit to graphql-ws subscriber (${o.subscribers} subscribers, ${o.events} events ${o.gapMs} ms apart)`,
    ["deliveries", "p50 ms", "p99 ms", "max ms"],
    [[`${fmt(latencies.length)} of ${fmt(expected)}`, fmt(p50, 2), fmt(p99, 2), fmt(latencies.at(-1) ?? Number.NaN, 2)]],
  );
  return { p99 };
}
