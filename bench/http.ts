import { pino } from "pino";
import { loadConfig } from "../src/config.ts";
import { buildApp } from "../src/server.ts";
import { fmt, freshDbFile, percentile, printTable } from "./support.ts";

const CREATE = `mutation($input: CreateRunInput!) { createRun(input: $input) { id status createdAt } }`;

/**
 * createRun over HTTP with `clients` concurrent clients, next to the same server answering
 * `{ __typename }` (GraphQL over HTTP with no storage at all) in the same run.
 */
export async function benchHttp(o: { clients: number; requests: number }): Promise<{ ratio: number }> {
  const config = loadConfig({ DATABASE_URL: `file:${freshDbFile()}`, FORGE_PORT: "0", LOG_LEVEL: "silent" });
  const app = await buildApp(config, { log: pino({ level: "silent" }) });
  const url = await app.start();

  async function load(body: () => string): Promise<{ perSecond: number; p50: number; p99: number }> {
    const latencies: number[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: o.clients }, async () => {
        while (next < o.requests) {
          next++;
          const t = performance.now();
          const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: body() });
          const json = (await response.json()) as { errors?: unknown };
          if (json.errors) throw new Error(JSON.stringify(json.errors));
          latencies.push(performance.now() - t);
        }
      }),
    );
    const elapsed = performance.now() - started;
    latencies.sort((a, b) => a - b);
    return { perSecond: (latencies.length / elapsed) * 1000, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
  }

  const typename = () => JSON.stringify({ query: "{ __typename }" });
  const create = () =>
    JSON.stringify({
      query: CREATE,
      variables: { input: { mode: "LIVE", jobType: "bench", requestedBy: "bench", graph: { steps: { a: { type: "noop" } } } } },
    });
  await load(typename); // warm-up
  await load(create);
  const bound = await load(typename);
  const measured = await load(create);
  await app.stop();
  printTable(
    `HTTP, ${o.clients} concurrent clients, ${o.requests} requests each kind`,
    ["operation", "req/s", "p50 ms", "p99 ms"],
    [
      ["{ __typename } (bound)", fmt(bound.perSecond), fmt(bound.p50, 2), fmt(bound.p99, 2)],
      ["createRun", fmt(measured.perSecond), fmt(measured.p50, 2), fmt(measured.p99, 2)],
      ["createRun / bound", fmt(measured.perSecond / bound.perSecond, 2), "", ""],
    ],
  );
  return { ratio: measured.perSecond / bound.perSecond };
}
