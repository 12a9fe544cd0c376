import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import pg from "pg";
import type { Forge } from "../src/engine/forge.ts";
import { Db, postgresTarget, quoteIdent } from "../src/store/db.ts";
import { measureDeliveries, noopRun, printLatency } from "./latency.ts";
import { fmt, printTable, startEngine } from "./support.ts";

/**
 * Forge on PostgreSQL (`npm run bench -- --only pg`), against BENCH_DATABASE_URL (default:
 * the machine's local server, database `test`); each phase works in a fresh schema.
 *
 * Throughput: noop runs/s completed by 1, 2 and 4 Forge worker processes, next to a bound
 * measured in the same run: raw `pg` connections, as many as the workers, making the same
 * claim statement and the same commit (run rows, step rows, events under the events lock)
 * with nothing else around them. The runs are created first and made due in one statement
 * once every worker is waiting, so the figure is the queue's drain rate.
 *
 * Latency: events committed by one process reach graphql-ws subscribers connected to an
 * API process (another process) through LISTEN/NOTIFY.
 */
const BASE_URL = process.env.BENCH_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/test";
const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));

export function freshSchemaUrl(tag: string): string {
  const url = new URL(BASE_URL);
  url.searchParams.set("schema", `forge_bench_${tag}_${process.pid}_${Date.now().toString(36)}`);
  return url.toString();
}

export async function dropSchema(url: string): Promise<void> {
  const { connectionString, schema } = postgresTarget(url);
  const client = new pg.Client({ connectionString });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
  await client.end();
}

/** A Forge engine without a worker on `url` (migrating it). */
async function openEngine(url: string): Promise<{ db: Db; forge: Forge }> {
  const db = await Db.open({ url });
  return { db, forge: await startEngine(db) };
}

/** A fresh schema holding `runs` noop runs, created through Forge and parked (not due). */
async function parkedQueue(tag: string, runs: number): Promise<{ url: string; db: Db; forge: Forge }> {
  const url = freshSchemaUrl(tag);
  const { db, forge } = await openEngine(url);
  for (let i = 0; i < runs; i += 500) await forge.createRuns(Array.from({ length: Math.min(500, runs - i) }, () => noopRun));
  await db.read.$executeRawUnsafe("UPDATE runs SET wake_at = NULL");
  await db.read.$executeRawUnsafe("VACUUM ANALYZE runs");
  return { url, db, forge };
}

/** Makes every parked run due at once and wakes whoever listens; returns the start time. */
async function release(db: Db): Promise<number> {
  const start = performance.now();
  await db.read.$executeRawUnsafe("UPDATE runs SET wake_at = now() AT TIME ZONE 'UTC' WHERE status = 'PENDING'");
  await db.read.$executeRawUnsafe(`SELECT pg_notify('forge_events:' || current_schema(), 'created:bench')`);
  return start;
}

async function untilAllSucceeded(db: Db, runs: number): Promise<number> {
  for (;;) {
    const [row] = await db.read.$queryRawUnsafe<Array<{ n: bigint }>>("SELECT count(*) AS n FROM runs WHERE status = 'SUCCEEDED'");
    if (Number(row?.n) >= runs) return performance.now();
    await new Promise((r) => setTimeout(r, 20));
  }
}

function startWorker(url: string): { child: ChildProcess; ready: Promise<void>; exited: Promise<void> } {
  const child = spawn(process.execPath, ["--import", "tsx", MAIN, "worker"], {
    env: { ...process.env, DATABASE_URL: url, LOG_LEVEL: "info", FORGE_TICK_INTERVAL_MS: "1000", FORGE_WORKER_PORT: "0" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  const ready = new Promise<void>((resolve) =>
    child.stdout?.on("data", (d) => {
      out += d;
      if (out.includes("forge worker running")) resolve();
    }),
  );
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  return { child, ready, exited };
}

async function forgeWorkers(workers: number, runs: number): Promise<number> {
  const { url, db, forge } = await parkedQueue(`w${workers}`, runs);
  const procs = Array.from({ length: workers }, () => startWorker(url));
  await Promise.all(procs.map((p) => p.ready));
  await new Promise((r) => setTimeout(r, 300));
  const start = await release(db);
  const end = await untilAllSucceeded(db, runs);
  for (const p of procs) p.child.kill("SIGTERM");
  await Promise.all(procs.map((p) => p.exited));
  await forge.stop();
  await db.close();
  await dropSchema(url);
  return runs / ((end - start) / 1000);
}

/**
 * The same claim and commit statements as Forge's, from raw pg connections. With
 * `notifyInCommit`, each commit also sends a NOTIFY inside its transaction (what Forge
 * avoids: it notifies after the commit), to measure what that costs.
 */
async function rawWorkers(connections: number, runs: number, notifyInCommit = false): Promise<number> {
  const { url, db, forge } = await parkedQueue(`raw${connections}`, runs);
  await forge.stop();
  const { connectionString, schema } = postgresTarget(url);
  const clients = await Promise.all(
    Array.from({ length: connections }, async () => {
      const c = new pg.Client({ connectionString, options: `-c search_path=${quoteIdent(schema)}` });
      await c.connect();
      return c;
    }),
  );
  const start = await release(db);
  await Promise.all(
    clients.map(async (c, k) => {
      const owner = `raw-${k}`;
      for (;;) {
        const now = new Date();
        const claimed = await c.query(
          `UPDATE runs SET lease_owner = $1, lease_epoch = lease_epoch + 1, lease_expires_at = $2
           WHERE id = ANY(ARRAY(SELECT id FROM runs WHERE wake_at IS NOT NULL AND wake_at <= $3
             AND (lease_owner IS NULL OR lease_expires_at <= $3) ORDER BY priority DESC, created_at, id LIMIT 100 FOR UPDATE SKIP LOCKED))
           RETURNING id, seq, lease_epoch`,
          [owner, new Date(now.getTime() + 60_000), now],
        );
        if (claimed.rowCount === 0) return;
        const ids = claimed.rows.map((r) => r.id as string);
        // Like Forge on PostgreSQL: the claimed runs' steps are read after the claim.
        const steps = await c.query("SELECT run_id, id FROM steps WHERE run_id = ANY($1) ORDER BY run_id, position", [ids]);
        const stepOf = new Map(steps.rows.map((r) => [r.run_id as string, r.id as string]));
        const epochs = claimed.rows.map((r) => r.lease_epoch as number);
        const seqs = claimed.rows.map((r) => r.seq as number);
        const stepIds = ids.map((id) => stepOf.get(id) as string);
        const evRun: string[] = [];
        const evSeq: number[] = [];
        const evType: string[] = [];
        const evStep: Array<string | null> = [];
        claimed.rows.forEach((r, i) => {
          ["run_started", "step_started", "step_succeeded", "run_succeeded"].forEach((type, j) => {
            evRun.push(r.id);
            evSeq.push((seqs[i] as number) + j + 1);
            evType.push(type);
            evStep.push(type.startsWith("step") ? (stepIds[i] as string) : null);
          });
        });
        await c.query("BEGIN");
        await c.query(
          `UPDATE runs SET status = 'SUCCEEDED', seq = runs.seq + 4, started_at = $4, finished_at = $4, updated_at = $4, wake_at = NULL,
             lease_owner = NULL, lease_expires_at = NULL
           FROM unnest($1::text[], $2::int[], $3::int[]) AS v(id, epoch, seq)
           WHERE runs.id = v.id AND runs.lease_owner = '${owner}' AND runs.lease_epoch = v.epoch AND runs.seq = v.seq`,
          [ids, epochs, seqs, now],
        );
        await c.query(
          `UPDATE steps SET status = 'SUCCEEDED', attempts = 1, started_at = $3, finished_at = $3, output = NULL
           FROM unnest($1::text[], $2::text[]) AS v(run_id, id) WHERE steps.run_id = v.run_id AND steps.id = v.id`,
          [ids, stepIds, now],
        );
        await c.query("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.forge_events'))");
        await c.query(
          `INSERT INTO events (run_id, seq, type, step_id, created_at)
           SELECT run_id, seq, type, step_id, $5 FROM unnest($1::text[], $2::int[], $3::text[], $4::text[]) AS v(run_id, seq, type, step_id)`,
          [evRun, evSeq, evType, evStep, now],
        );
        if (notifyInCommit) await c.query("SELECT pg_notify('forge_bench_commits', $1)", [owner]);
        await c.query("COMMIT");
      }
    }),
  );
  const end = await untilAllSucceeded(db, runs);
  await Promise.all(clients.map((c) => c.end()));
  await db.close();
  await dropSchema(url);
  return runs / ((end - start) / 1000);
}

export async function benchPostgresThroughput(o: { runs: number }): Promise<void> {
  const rows: Array<Array<string | number>> = [];
  for (const n of [1, 2, 4]) {
    const forge = await forgeWorkers(n, o.runs);
    const raw = await rawWorkers(n, o.runs);
    rows.push([n, fmt(forge), fmt(raw), fmt(forge / raw, 2)]);
  }
  printTable(
    `PostgreSQL: noop runs/s drained from a queue of ${fmt(o.runs)} (one step, four events written per run by the tick)`,
    ["workers", "Forge worker processes", "raw pg, same statements", "Forge / raw"],
    rows,
  );
  // NOTIFY inside a transaction takes a database-wide lock at commit; Forge sends it after.
  const plain = await rawWorkers(4, o.runs);
  const inCommit = await rawWorkers(4, o.runs, true);
  printTable(
    "PostgreSQL: cost of NOTIFY inside each commit (raw pg, 4 connections, ticks of 100 runs)",
    ["commits", "runs/s", "vs without"],
    [
      ["without NOTIFY", fmt(plain), "1.00"],
      ["NOTIFY inside each commit", fmt(inCommit), fmt(inCommit / plain, 2)],
    ],
  );
}

/**
 * Commit in this process -> graphql-ws subscribers connected to an API process (a child),
 * which hears of the commit through LISTEN/NOTIFY and reads the events from the database.
 */
export async function benchPostgresLatency(o: { subscribers: number; events: number; gapMs: number }): Promise<void> {
  const url = freshSchemaUrl("lat");
  const { db, forge: writer } = await openEngine(url);
  const api = spawn(process.execPath, ["--import", "tsx", MAIN, "serve"], {
    env: { ...process.env, DATABASE_URL: url, FORGE_PORT: "0", LOG_LEVEL: "info" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  const apiUrl = await new Promise<string>((resolve) =>
    api.stdout?.on("data", (d) => {
      out += d;
      const m = /"url":"(http:[^"]+)"/.exec(out);
      if (m) resolve(m[1] as string);
    }),
  );
  const latencies = await measureDeliveries({
    ...o,
    wsUrl: apiUrl.replace(/^http/, "ws"),
    settleMs: 1000,
    createRun: () => writer.createRun(noopRun),
  });
  api.kill("SIGTERM");
  await new Promise((r) => api.on("exit", r));
  await writer.stop();
  await db.close();
  await dropSchema(url);
  printLatency(
    `PostgreSQL: event latency across processes, commit in one process to ${o.subscribers} graphql-ws subscribers of an API process, ${o.events} events ${o.gapMs} ms apart`,
    latencies,
    o.subscribers * o.events,
  );
}
