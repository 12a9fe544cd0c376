import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { ENGINE_DEFAULTS } from "../src/config.ts";
import type { AllowEntry } from "../src/domain/destination.ts";
import { PolicySet } from "../src/domain/policy.ts";
import type { Forge } from "../src/engine/forge.ts";
import { defaultRegistry } from "../src/engine/steps/index.ts";
import { Db } from "../src/store/db.ts";
import { fmt, freshDbFile, printTable, startEngine } from "./support.ts";

/**
 * Step types with a speed of their own, each against a bound measured in the same run:
 * - http: runs of N http steps (fan-out) against a local server, drained by ticks, against
 *   the same requests made with fetch alone, in the same shape (ticks of 100 runs, all at
 *   once, a run's steps at once): what Forge adds around a request (claim, events, commit).
 * - lane caps: noop runs in a lane whose cap never binds, against the same runs without a
 *   cap: what counting a lane's running runs in the claim costs.
 */
const TICK = 100;
/** The local server is on loopback, which http steps reach only when it is allowed (FORGE_HTTP_ALLOW_HOSTS=127.0.0.1). */
const LOCAL_SERVER: AllowEntry[] = [{ kind: "range", cidr: "127.0.0.1/32" }];

async function localServer() {
  const server = createServer((_req, res) => {
    res.setHeader("content-type", "application/json");
    res.end('{"ok":true}');
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, close: () => server.close() };
}

async function startForge(policies?: PolicySet) {
  const db = await Db.open({ url: `file:${freshDbFile()}`, synchronous: "FULL" });
  const forge = await startEngine(db, { tickLimit: TICK, policies, registry: defaultRegistry([], { http: { allowHosts: LOCAL_SERVER } }) });
  const close = async () => {
    await forge.stop();
    await db.close();
  };
  return { forge, close };
}

/** Creates `runs` runs of `graph` (100 per transaction), then ticks until none is left; returns the ticking time. */
async function drain(forge: Forge, runs: number, graph: unknown, lane = "default"): Promise<number> {
  const input = { mode: "LIVE" as const, jobType: "bench", requestedBy: "bench", lane, graph };
  for (let i = 0; i < runs; i += 100) await forge.createRuns(Array.from({ length: Math.min(100, runs - i) }, () => input));
  const t = performance.now();
  while ((await forge.tickOnce(TICK)).ticked > 0);
  const succeeded = await forge.db.read.run.count({ where: { status: "SUCCEEDED" } });
  if (succeeded !== runs) throw new Error(`only ${succeeded} of ${runs} runs succeeded`);
  return performance.now() - t;
}

/** The same requests with fetch alone: ticks of 100 runs, all at once, each run's steps at once. */
async function rawRequests(url: string, runs: number, steps: number): Promise<number> {
  const t = performance.now();
  for (let done = 0; done < runs; done += TICK) {
    const batch = Math.min(TICK, runs - done);
    await Promise.all(
      Array.from({ length: batch }, () =>
        Promise.all(
          Array.from({ length: Math.min(steps, ENGINE_DEFAULTS.stepConcurrency) }, async () => {
            const response = await fetch(url);
            await response.text();
          }),
        ),
      ),
    );
  }
  return performance.now() - t;
}

export async function benchSteps(o: { runs: number }): Promise<void> {
  const server = await localServer();
  const rows: Array<Array<string | number>> = [];
  try {
    for (const steps of [1, 8]) {
      const runs = Math.round(o.runs / steps);
      const graph = {
        steps: Object.fromEntries(Array.from({ length: steps }, (_, i) => [`call${i}`, { type: "http", params: { url: server.url } }])),
      };
      const { forge, close } = await startForge();
      const forgeMs = await drain(forge, runs, graph);
      await close();
      const rawMs = await rawRequests(server.url, runs, steps);
      const requests = runs * steps;
      rows.push([
        `${runs} runs × ${steps} http step(s)`,
        fmt((requests / forgeMs) * 1000),
        fmt((requests / rawMs) * 1000),
        fmt(rawMs / forgeMs, 2),
      ]);
    }
  } finally {
    server.close();
  }
  printTable(
    "http steps against a local server: requests/s, ticked by Forge (SQLite, FULL) vs the same requests with fetch alone",
    ["workload", "Forge requests/s", "fetch alone requests/s", "Forge / fetch"],
    rows,
  );

  const graph = { steps: { only: { type: "noop" } } };
  const runs = o.runs * 2;
  const plain = await startForge();
  const plainMs = await drain(plain.forge, runs, graph);
  await plain.close();
  const capped = await startForge(new PolicySet({ bench: { maxSteps: 10, laneConcurrency: { busy: 1_000_000 } } }));
  const cappedMs = await drain(capped.forge, runs, graph, "busy");
  await capped.close();
  printTable(
    `Lane caps: ${runs} noop runs ticked to the end, in a capped lane (the cap never binds) vs no cap`,
    ["lane", "runs/s", "capped / uncapped"],
    [
      ["no cap", fmt((runs / plainMs) * 1000), "1.00"],
      ["capped", fmt((runs / cappedMs) * 1000), fmt(plainMs / cappedMs, 2)],
    ],
  );
}
