import { readFileSync } from "node:fs";
import Database from "better-sqlite3";
import { newRunId } from "../src/domain/ids.ts";
import { Db } from "../src/store/db.ts";
import { splitStatements } from "../src/store/migrate.ts";
import { fmt, freshDbFile, printTable, startEngine } from "./support.ts";

/**
 * Noop runs per second on SQLite, created and ticked to SUCCEEDED in-process, against a
 * bound measured in the same run: the same rows written with raw better-sqlite3 in the
 * same number of transactions (one per created run; per tick, one claim and one commit).
 */
export interface ThroughputOptions {
  runs: number;
  stepsPerRun: number;
  tickLimit: number;
  synchronous: "FULL" | "NORMAL";
  /** Runs per createRuns call (and per raw create transaction); 1 means createRun one at a time. */
  createBatch: number;
}

interface Phase {
  createMs: number;
  tickMs: number;
  transactions: number;
}

async function forgePhase(o: ThroughputOptions): Promise<Phase> {
  const db = await Db.open({ url: `file:${freshDbFile()}`, synchronous: o.synchronous });
  const forge = await startEngine(db, { tickLimit: o.tickLimit });
  const steps: Record<string, { type: string; deps: string[] }> = {};
  for (let i = 0; i < o.stepsPerRun; i++) steps[`s${i}`] = { type: "noop", deps: i === 0 ? [] : [`s${i - 1}`] };
  const input = { mode: "LIVE" as const, jobType: "bench", requestedBy: "bench", graph: { steps } };
  let t = performance.now();
  for (let i = 0; i < o.runs; i += o.createBatch) {
    const n = Math.min(o.createBatch, o.runs - i);
    if (o.createBatch === 1) await forge.createRun(input);
    else await forge.createRuns(Array.from({ length: n }, () => input));
  }
  const createMs = performance.now() - t;
  t = performance.now();
  let ticks = 0;
  let succeeded = 0;
  for (;;) {
    const result = await forge.tickOnce(o.tickLimit);
    if (result.ticked === 0) break;
    ticks++;
    succeeded += result.succeeded;
  }
  const tickMs = performance.now() - t;
  if (succeeded !== o.runs) throw new Error(`expected ${o.runs} runs to succeed, got ${succeeded}`);
  await forge.stop();
  await db.close();
  return { createMs, tickMs, transactions: Math.ceil(o.runs / o.createBatch) + 2 * ticks };
}

function rawPhase(o: ThroughputOptions): Phase {
  const raw = new Database(freshDbFile());
  raw.pragma("journal_mode = WAL");
  raw.pragma(`synchronous = ${o.synchronous}`);
  raw.pragma("foreign_keys = ON");
  const sql = readFileSync(new URL("../prisma/migrations/sqlite/0001_init.sql", import.meta.url), "utf8");
  for (const statement of splitStatements(sql)) raw.exec(statement);

  const insertRun = raw.prepare(`INSERT INTO runs (id, mode, job_type, lane, requested_by, priority, status, graph, params,
      idempotency_key, input_hash, created_at, updated_at, started_at, finished_at, seq, wake_at)
    VALUES (?, 'LIVE', 'bench', 'default', 'bench', 0, 'PENDING', ?, '{}', NULL, ?, ?, ?, NULL, NULL, 1, ?)`);
  const insertStep = raw.prepare("INSERT INTO steps (run_id, id, position, type, deps, status) VALUES (?, ?, ?, 'noop', ?, 'PENDING')");
  const insertEvent = raw.prepare("INSERT INTO events (run_id, seq, type, step_id, data, created_at) VALUES (?, ?, ?, ?, ?, ?)");
  const claim = raw.prepare(`UPDATE runs SET lease_owner = ?, lease_epoch = lease_epoch + 1, lease_expires_at = ?
    WHERE id IN (SELECT id FROM runs WHERE wake_at IS NOT NULL AND wake_at <= ? AND (lease_owner IS NULL OR lease_expires_at <= ?)
      ORDER BY priority DESC, created_at, id LIMIT ?) RETURNING id, lease_epoch, seq`);
  const readSteps = raw.prepare("SELECT * FROM steps WHERE run_id = ? ORDER BY position");
  const finishRun = raw.prepare(`UPDATE runs SET status = 'SUCCEEDED', seq = ?, started_at = ?, finished_at = ?, updated_at = ?,
      wake_at = NULL, lease_owner = NULL, lease_expires_at = NULL WHERE id = ? AND lease_owner = ? AND lease_epoch = ? AND seq = ?`);
  const finishStep = raw.prepare(
    "UPDATE steps SET status = 'SUCCEEDED', attempts = 1, started_at = ?, finished_at = ?, output = NULL WHERE run_id = ? AND id = ?",
  );

  const graph = JSON.stringify({
    steps: Object.fromEntries(Array.from({ length: o.stepsPerRun }, (_, i) => [`s${i}`, { type: "noop", deps: i ? [`s${i - 1}`] : [] }])),
  });
  // The same rows as Forge writes: time-ordered UUIDs, a sha256-sized input hash.
  const hash = "0".repeat(64);
  const create = raw.transaction((first: number, n: number) => {
    const now = Date.now();
    for (let i = first; i < first + n; i++) {
      const id = newRunId(new Date(now));
      insertRun.run(id, graph, hash, now, now, now);
      for (let s = 0; s < o.stepsPerRun; s++) insertStep.run(id, `s${s}`, s, s ? `["s${s - 1}"]` : "[]");
      insertEvent.run(id, 1, "run_created", null, null, now);
    }
  });
  let t = performance.now();
  for (let i = 0; i < o.runs; i += o.createBatch) create(i, Math.min(o.createBatch, o.runs - i));
  const createMs = performance.now() - t;

  const claimTx = raw.transaction(() => {
    const now = Date.now();
    return claim.all("raw", now + 60_000, now, now, o.tickLimit) as Array<{ id: string; lease_epoch: number; seq: number }>;
  });
  const commitTx = raw.transaction((claimed: Array<{ id: string; lease_epoch: number; seq: number }>) => {
    const now = Date.now();
    for (const run of claimed) {
      let seq = run.seq;
      insertEvent.run(run.id, ++seq, "run_started", null, null, now);
      for (const step of readSteps.all(run.id) as Array<{ id: string }>) {
        insertEvent.run(run.id, ++seq, "step_started", step.id, '{"attempt":1}', now);
        finishStep.run(now, now, run.id, step.id);
        insertEvent.run(run.id, ++seq, "step_succeeded", step.id, '{"attempt":1}', now);
      }
      insertEvent.run(run.id, ++seq, "run_succeeded", null, null, now);
      finishRun.run(seq, now, now, now, run.id, "raw", run.lease_epoch, run.seq);
    }
  });
  t = performance.now();
  let ticks = 0;
  for (;;) {
    const claimed = claimTx();
    if (claimed.length === 0) break;
    commitTx(claimed);
    ticks++;
  }
  const tickMs = performance.now() - t;
  raw.close();
  return { createMs, tickMs, transactions: Math.ceil(o.runs / o.createBatch) + 2 * ticks };
}

export async function benchThroughput(o: ThroughputOptions): Promise<{ ratio: number }> {
  // Warm both paths up (JIT, Prisma's query compiler) before measuring.
  await forgePhase({ ...o, runs: Math.min(200, o.runs) });
  rawPhase({ ...o, runs: Math.min(200, o.runs) });
  const forge = await forgePhase(o);
  const raw = rawPhase(o);
  const perSecond = (ms: number) => (o.runs / ms) * 1000;
  const rows = [
    [
      o.createBatch === 1 ? "create (createRun, one transaction each)" : `create (createRuns, ${o.createBatch} per transaction)`,
      fmt(perSecond(forge.createMs)),
      fmt(perSecond(raw.createMs)),
      fmt(raw.createMs / forge.createMs, 2),
    ],
    [
      `tick to SUCCEEDED (limit ${o.tickLimit})`,
      fmt(perSecond(forge.tickMs)),
      fmt(perSecond(raw.tickMs)),
      fmt(raw.tickMs / forge.tickMs, 2),
    ],
    [
      "end to end",
      fmt(perSecond(forge.createMs + forge.tickMs)),
      fmt(perSecond(raw.createMs + raw.tickMs)),
      fmt((raw.createMs + raw.tickMs) / (forge.createMs + forge.tickMs), 2),
    ],
  ];
  printTable(
    `Noop runs/s on SQLite: ${o.runs} runs of ${o.stepsPerRun} step(s), synchronous=${o.synchronous}, ${forge.transactions} transactions each side`,
    ["phase", "Forge runs/s", "raw better-sqlite3 runs/s", "Forge / raw"],
    rows,
  );
  return { ratio: (raw.createMs + raw.tickMs) / (forge.createMs + forge.tickMs) };
}
