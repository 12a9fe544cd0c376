import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { ForgeMetrics } from "../src/ops/metrics.ts";
import { Tracing } from "../src/ops/tracing.ts";
import { Db } from "../src/store/db.ts";
import { fmt, freshDbFile, printTable, startEngine } from "./support.ts";

/**
 * What watching the engine costs: noop runs per second on SQLite (created in batches of 100,
 * ticked to SUCCEEDED, as bench/throughput.ts does) with nothing counted and no tracing (the
 * bound), with metrics counted, and with metrics and tracing both on, exporting every span
 * (or the spans of one tick in ten, OTEL_TRACES_SAMPLER=parentbased_traceidratio 0.1) over
 * OTLP/HTTP to a receiver in a process of its own that reads each export. The
 * variants take turns, round after round, so a noisy neighbour slows them alike.
 */
type Variant = "off" | "metrics" | "metrics + tracing" | "metrics + tracing 1 in 10";
const VARIANTS: Variant[] = ["off", "metrics", "metrics + tracing", "metrics + tracing 1 in 10"];

interface Receiver {
  url: string;
  received(): Promise<{ spans: number; bytes: number }>;
  stop(): void;
}

/** bench/otlp-receiver.ts in a child process. */
async function otlpReceiver(): Promise<Receiver> {
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL("./otlp-receiver.ts", import.meta.url))], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const [line] = (await once(child.stdout, "data")) as [Buffer];
  const base = line.toString().trim();
  return {
    url: `${base}/v1/traces`,
    received: async () => (await (await fetch(`${base}/count`)).json()) as { spans: number; bytes: number },
    stop: () => child.kill(),
  };
}

/** Runs per second, and the spans the unsampled drain made (one per tick, and per run its tick's and its two attempts'). */
async function drain(variant: Variant, runs: number, otlpUrl: string): Promise<{ rate: number; cpuUs: number; spans: number }> {
  const db = await Db.open({ url: `file:${freshDbFile()}`, synchronous: "NORMAL" });
  const sampler = variant === "metrics + tracing 1 in 10" ? { name: "parentbased_traceidratio" as const, ratio: 0.1 } : undefined;
  const tracing = variant.includes("tracing") ? new Tracing({ url: otlpUrl, serviceName: "forge-bench", sampler }) : null;
  const forge = await startEngine(db, { metrics: new ForgeMetrics({ counting: variant !== "off" }), tracing });
  const input = {
    mode: "LIVE" as const,
    jobType: "bench",
    requestedBy: "bench",
    graph: { steps: { a: { type: "noop" }, b: { type: "noop", deps: ["a"] } } },
  };
  for (let i = 0; i < runs; i += 100) await forge.createRuns(Array.from({ length: Math.min(100, runs - i) }, () => input));
  const started = performance.now();
  const cpu = process.cpuUsage();
  let succeeded = 0;
  let ticks = 0;
  for (;;) {
    const result = await forge.tickOnce(100);
    if (result.ticked === 0) break;
    succeeded += result.succeeded;
    ticks++;
  }
  const seconds = (performance.now() - started) / 1000;
  if (succeeded !== runs) throw new Error(`${variant}: expected ${runs} runs to succeed, got ${succeeded}`);
  await forge.stop(); // flushes the spans still batched
  const used = process.cpuUsage(cpu);
  await db.close();
  return { rate: runs / seconds, cpuUs: (used.user + used.system) / runs, spans: tracing && !sampler ? ticks + 3 * runs : 0 };
}

export async function benchObservability(o: { runs: number; rounds: number }): Promise<void> {
  const receiver = await otlpReceiver();
  const rates = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]));
  const cpus = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]));
  let made = 0;
  for (let round = 0; round < o.rounds; round++) {
    for (const variant of round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse()) {
      const { rate, cpuUs, spans } = await drain(variant, o.runs, receiver.url);
      rates.get(variant)?.push(rate);
      cpus.get(variant)?.push(cpuUs);
      made += spans;
    }
  }
  const { spans, bytes } = await receiver.received();
  receiver.stop();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const off = median(rates.get("off") ?? []);
  // Another tenant's work only adds CPU time to a drain: the least of the rounds is the steadiest figure.
  const least = (xs: number[]) => Math.min(...xs);
  const offCpu = least(cpus.get("off") ?? []);
  printTable(
    `Noop runs/s with metrics and tracing on against off (SQLite NORMAL, ${fmt(o.runs)} two-step runs, ticks of 100; ${o.rounds} alternating rounds; ${fmt(spans)} spans received over OTLP: the ${fmt(made)} the unsampled variant made, and the sampled one's, ${fmt(bytes / 1024 / 1024, 1)} MiB)`,
    ["variant", "runs/s (median)", "of off", "CPU µs/run (least)", "off / this", "runs/s by round"],
    VARIANTS.map((variant) => {
      const samples = rates.get(variant) ?? [];
      const cpu = least(cpus.get(variant) ?? []);
      return [
        variant,
        fmt(median(samples)),
        fmt(median(samples) / off, 2),
        fmt(cpu),
        fmt(offCpu / cpu, 2),
        samples.map((r) => fmt(r)).join(", "),
      ];
    }),
  );
}
