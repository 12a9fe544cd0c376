import Database from "better-sqlite3";
import { newRunId } from "../src/domain/ids.ts";
import type { Forge } from "../src/engine/forge.ts";
import { Db } from "../src/store/db.ts";
import { migrate } from "../src/store/migrate.ts";
import { fmt, freshDbFile, percentile, printTable, startEngine } from "./support.ts";

/**
 * The dashboard's and the scheduler's reads as the table grows: the same operations on a
 * database of `small` runs (the bound) and of `large` runs, with the same number of due
 * runs in both (the rest finished). Index-driven reads cost about the same at both sizes;
 * a scan would grow a hundredfold.
 */
const DUE = 3_000;

export async function seeded(total: number): Promise<{ forge: Forge; db: Db }> {
  const file = freshDbFile();
  const db = await Db.open({ url: `file:${file}`, synchronous: "NORMAL" });
  await migrate(db);
  const raw = new Database(file);
  const insert = raw.prepare(`INSERT INTO runs (id, mode, job_type, lane, requested_by, priority, status, graph, params, input_hash,
      created_at, updated_at, finished_at, seq, wake_at) VALUES (?, 'LIVE', ?, ?, 'seed', ?, ?, '{"steps":{"a":{"type":"noop","deps":[]}}}', '{}', 'h', ?, ?, ?, 1, ?)`);
  const step = raw.prepare("INSERT INTO steps (run_id, id, position, type, deps, status) VALUES (?, 'a', 0, 'noop', '[]', ?)");
  const start = Date.now() - total;
  raw.transaction(() => {
    for (let i = 0; i < total; i++) {
      const at = start + i;
      const due = i % Math.floor(total / DUE) === 0;
      const id = newRunId(new Date(at));
      insert.run(id, `job${i % 20}`, `lane${i % 5}`, i % 7, due ? "PENDING" : "SUCCEEDED", at, at, due ? null : at, due ? at : null);
      step.run(id, due ? "PENDING" : "SUCCEEDED");
    }
  })();
  raw.close();
  const forge = await startEngine(db);
  return { forge, db };
}

async function time(repeat: number, fn: () => Promise<unknown>): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < repeat; i++) {
    const t = performance.now();
    await fn();
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  return percentile(samples, 50);
}

export async function benchScale(o: { small: number; large: number }): Promise<void> {
  const results: Record<string, number[]> = {};
  for (const total of [o.small, o.large]) {
    const { forge, db } = await seeded(total);
    const newest = await forge.listRuns({}, 50, null);
    const page2 = newest.at(-1) as (typeof newest)[number];
    const ops: Array<[string, () => Promise<unknown>]> = [
      ["runs(first: 50)", () => forge.listRuns({}, 50, null)],
      ["runs(first: 50, after: page 1)", () => forge.listRuns({}, 50, { createdAt: page2.createdAt, id: page2.id })],
      ["runs(status: PENDING, first: 50)", () => forge.listRuns({ status: "PENDING" }, 50, null)],
      ["runs(jobType, lane, first: 50)", () => forge.listRuns({ jobType: "job3", lane: "lane3" }, 50, null)],
      ["run(id) with steps", async () => Promise.all([forge.getRun(page2.id), forge.steps([page2.id])])],
      ["workerStatus queue depth", () => forge.workerStatus()],
      ["GET /metrics (queue gauges read at scrape)", () => forge.resources.metrics.exposition()],
      ["tickOnce(limit: 100)", () => forge.tickOnce(100)],
    ];
    for (const [name, fn] of ops) {
      const samples = results[name] ?? [];
      samples.push(await time(20, fn));
      results[name] = samples;
    }
    await forge.stop();
    await db.close();
  }
  printTable(
    `Reads as the runs table grows (median of 20; ${fmt(o.small)} runs is the bound; ${fmt(DUE)} due runs in both)`,
    ["operation", `${fmt(o.small)} runs ms`, `${fmt(o.large)} runs ms`, "large / small"],
    Object.entries(results).map(([name, [small, large]]) => [
      name,
      fmt(small as number, 2),
      fmt(large as number, 2),
      fmt((large as number) / (small as number), 2),
    ]),
  );
}
