import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { ForgeMetrics } from "../src/ops/metrics.ts";
import { Tracing } from "../src/ops/tracing.ts";
import { Db } from "../src/store/db.ts";
import { fmt, freshDbFile, printTable, startEngine } from "./support.ts";

/**
 * What watching the engine costs: noop runs per second on SQLite (created in batches of 100,
 * ticked to SUCCEEDED, as bench/throughput.ts does) with nothing counted and no tracing (the
 * bound), with metrics counted, and with metrics and tracing both on, exporting every span
 * over OTLP/HTTP to a receiver in this process that reads and acknowledges each export. The
 * variants take turns, round after round, so a noisy neighbour slows them alike.
 */
type Variant = "off" | "metrics" | "metrics + tracing";
const VARIANTS: Variant[] = ["off", "metrics", "metrics + tracing"];

async function otlpReceiver(): Promise<{ url: string; received: () => { exports: number; bytes: number }; close: () => Promise<void> }> {
  let bytes = 0;
  let exports = 0;
  const server = createServer((req, res) => {
    req.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
    });
    req.on("end", () => {
      exports++;
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    received: () => ({ exports, bytes }),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function drain(variant: Variant, runs: number, otlpUrl: string): Promise<number> {
  const db = await Db.open({ url: `file:${freshDbFile()}`, synchronous: "NORMAL" });
  const tracing = variant === "metrics + tracing" ? new Tracing({ url: otlpUrl, serviceName: "forge-bench" }) : null;
  const forge = await startEngine(db, { metrics: new ForgeMetrics({ counting: variant !== "off" }), tracing });
  const input = {
    mode: "LIVE" as const,
    jobType: "bench",
    requestedBy: "bench",
    graph: { steps: { a: { type: "noop" }, b: { type: "noop", deps: ["a"] } } },
  };
  for (let i = 0; i < runs; i += 100) await forge.createRuns(Array.from({ length: Math.min(100, runs - i) }, () => input));
  const started = performance.now();
  let succeeded = 0;
  for (;;) {
    const result = await forge.tickOnce(100);
    if (result.ticked === 0) break;
    succeeded += result.succeeded;
  }
  const seconds = (performance.now() - started) / 1000;
  if (succeeded !== runs) throw new Error(`${variant}: expected ${runs} runs to succeed, got ${succeeded}`);
  await forge.stop(); // flushes the spans still batched
  await db.close();
  return runs / seconds;
}

export async function benchObservability(o: { runs: number; rounds: number }): Promise<void> {
  const receiver = await otlpReceiver();
  const rates = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]));
  for (let round = 0; round < o.rounds; round++) {
    for (const variant of round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse()) {
      rates.get(variant)?.push(await drain(variant, o.runs, receiver.url));
    }
  }
  const { exports, bytes } = receiver.received();
  await receiver.close();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const off = median(rates.get("off") ?? []);
  printTable(
    `Noop runs/s with metrics and tracing on against off (SQLite NORMAL, ${fmt(o.runs)} two-step runs, ticks of 100; median of ${o.rounds} rounds; ${fmt(exports)} OTLP exports, ${fmt(bytes / 1024 / 1024, 1)} MiB received)`,
    ["variant", "runs/s", "of off", "rounds"],
    VARIANTS.map((variant) => {
      const samples = rates.get(variant) ?? [];
      return [variant, fmt(median(samples)), fmt(median(samples) / off, 2), samples.map((r) => fmt(r)).join(", ")];
    }),
  );
}
