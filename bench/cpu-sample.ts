import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

/**
 * One sample for `bench/compare.ts`: the CPU time Forge's process spends per noop run, in
 * one fresh process, for the Forge tree at FORGE_ROOT (this checkout when unset). Printed
 * as one JSON line. CPU time (user + system, from process.cpuUsage) rather than wall time,
 * and SQLite files in a memory-backed folder (/dev/shm, where an fsync costs nothing), so
 * that what is compared is the code's work, not the disk's, which varies far more here.
 *
 * It imports the tree's modules by path, so it runs against older commits too: it uses only
 * what has been stable since the engine's first release (Db.open, Forge.start, createRuns,
 * tickOnce, buildApp, loadConfig).
 */
const root = process.env.FORGE_ROOT ?? join(import.meta.dirname, "..");
const RUNS = Number(process.env.FORGE_SAMPLE_RUNS ?? 5000);
const REQUESTS = Number(process.env.FORGE_SAMPLE_REQUESTS ?? 1500);
const load = (path: string) => import(pathToFileURL(join(root, path)).href);

const { Db } = await load("src/store/db.ts");
const { Forge } = await load("src/engine/forge.ts");
const { systemClock } = await load("src/clock.ts");
const { buildApp } = await load("src/server.ts");
const { loadConfig } = await load("src/config.ts");
const { pino } = await import("pino");

const folder = mkdtempSync(join(process.platform === "linux" ? "/dev/shm" : (process.env.TMPDIR ?? "/tmp"), "forge-cpu-"));
const log = pino({ level: "silent" });
const cpuMs = (since: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
};

/** Engine alone: RUNS one-step noop runs created by createRuns of 100, then ticked by 100. */
async function engine(): Promise<{ createUs: number; tickUs: number }> {
  const db = await Db.open({ url: `file:${join(folder, "engine.db")}`, synchronous: "NORMAL" });
  const forge = await Forge.start({
    db,
    clock: systemClock,
    log,
    leaseMs: 60_000,
    tickLimit: 100,
    tickIntervalMs: 1000,
    workerEnabled: false,
  });
  const input = { mode: "LIVE", jobType: "bench", requestedBy: "bench", graph: { steps: { s: { type: "noop" } } } };
  // Warm up the code paths on a first batch, not counted.
  await forge.createRuns(Array.from({ length: 100 }, () => input));
  while ((await forge.tickOnce(100)).ticked > 0) {}
  let since = process.cpuUsage();
  for (let i = 0; i < RUNS; i += 100) await forge.createRuns(Array.from({ length: 100 }, () => input));
  const create = cpuMs(since);
  since = process.cpuUsage();
  let done = 0;
  while (done < RUNS) {
    const tick = await forge.tickOnce(100);
    if (tick.ticked === 0) throw new Error("the queue stopped draining");
    done += tick.succeeded;
  }
  const tick = cpuMs(since);
  await forge.stop();
  await db.close();
  return { createUs: (create * 1000) / RUNS, tickUs: (tick * 1000) / RUNS };
}

/** The whole request path: REQUESTS createRun mutations through yoga (no socket), one after another. */
async function http(): Promise<{ requestUs: number }> {
  const config = loadConfig({ DATABASE_URL: `file:${join(folder, "http.db")}`, FORGE_SQLITE_SYNCHRONOUS: "NORMAL", LOG_LEVEL: "silent" });
  const app = await buildApp(config, { log });
  const body = JSON.stringify({
    query: "mutation($input: CreateRunInput!) { createRun(input: $input) { id status } }",
    variables: { input: { mode: "LIVE", jobType: "bench", requestedBy: "bench", graph: { steps: { s: { type: "noop" } } } } },
  });
  const send = async () => {
    const response = await app.yoga.fetch("http://127.0.0.1/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body,
    });
    const json = (await response.json()) as { data?: { createRun?: { id: string } } };
    if (!json.data?.createRun) throw new Error(`createRun failed: ${JSON.stringify(json)}`);
  };
  for (let i = 0; i < 200; i++) await send();
  const since = process.cpuUsage();
  for (let i = 0; i < REQUESTS; i++) await send();
  const used = cpuMs(since);
  await app.stop();
  return { requestUs: (used * 1000) / REQUESTS };
}

const result = { ...(await engine()), ...(await http()) };
// Each sample's databases are its own: nothing of them is kept in the memory-backed folder.
rmSync(folder, { recursive: true, force: true });
console.log(JSON.stringify(result));
