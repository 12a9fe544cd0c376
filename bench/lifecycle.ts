import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { pino } from "pino";
import { loadConfig } from "../src/config.ts";
import { newRunId } from "../src/domain/ids.ts";
import type { Forge } from "../src/engine/forge.ts";
import { BULK_BATCH, PRUNE_BATCH } from "../src/engine/lifecycle.ts";
import { type App, buildApp } from "../src/server.ts";
import { Db, postgresTarget, quoteIdent, sqlitePath } from "../src/store/db.ts";
import { pickIds } from "../src/store/sql/claim.ts";
import { notPaused } from "../src/store/sql/pick-order.ts";
import { dropSchema, freshSchemaUrl } from "./postgres.ts";
import { fmt, freshDbFile, percentile, printTable, startEngine } from "./support.ts";

/**
 * The lifecycle operations at volume (`npm run bench -- --only lifecycle`, SQLite; with
 * `--with-pg`, or in the `pg` part, on PostgreSQL too), each next to a bound measured in the
 * same run:
 *
 * - pruneRuns of finished runs through the API, against the same rows deleted with the raw
 *   driver in batches of the same size (the same cascade: steps, events, artifacts).
 * - The in-process worker's noop throughput while such a prune runs in the same process,
 *   against the same drain with no prune, in alternating rounds (the goal: at least 0.8).
 * - cancelRuns of pending runs through the API, against the same writes with the raw driver
 *   in batches of the same size.
 * - runs(first: 500) over HTTP with and without Run.waiting (and steps), 500 runs in mixed
 *   states.
 * - Claim and tick throughput from a queue of 50,000 due runs with no pause against three
 *   pauses of other lanes (the claim reads the pauses table in every pick), in alternating
 *   rounds; on PostgreSQL also with the pauses table analyzed while they are in force. Then
 *   the claim's pick statement alone, with and without its pause check, and with the queued
 *   runs' own lane paused.
 *
 * `--part prune,worker,cancel,waiting,pauses` (in bench/run.ts) runs some of the parts.
 * The finished runs are one real run (created and ticked by Forge) copied in SQL: every
 * column of its run, step and event rows, with new ids and its times moved.
 */
type Dialect = "sqlite" | "postgres";
const LABEL: Record<Dialect, string> = { sqlite: "SQLite", postgres: "PostgreSQL" };
const TOKEN = "bench-admin-token";
const DAY_MS = 24 * 60 * 60 * 1000;
const TERMINAL = ["SUCCEEDED", "FAILED", "CANCELLED"];
/** Timestamp columns, moved by the offset between a copy's creation and the original's. */
const TIMES = new Set(["created_at", "updated_at", "started_at", "finished_at", "lease_expires_at", "wake_at", "signalled_at"]);

const TWO_NOOPS = { steps: { a: { type: "noop" }, b: { type: "noop", deps: ["a"] } } };
const input = (jobType: string, graph: object = TWO_NOOPS, lane?: string) => ({
  mode: "LIVE" as const,
  jobType,
  requestedBy: "bench",
  graph,
  ...(lane ? { lane } : {}),
});

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};
const least = (xs: number[]) => Math.min(...xs);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Where one measurement works: a fresh SQLite file or a fresh PostgreSQL schema. */
interface Place {
  url: string;
  drop(): Promise<void>;
}

function freshPlace(dialect: Dialect, tag: string): Place {
  if (dialect === "postgres") {
    const url = freshSchemaUrl(`lc_${tag}`);
    return { url, drop: () => dropSchema(url) };
  }
  const file = freshDbFile();
  return { url: `file:${file}`, drop: async () => rmSync(dirname(file), { recursive: true, force: true }) };
}

/** A copy of a SQLite database file (closed, its WAL checkpointed). */
function copyOf(template: Place): Place {
  const file = freshDbFile();
  copyFileSync(sqlitePath(template.url), file);
  return { url: `file:${file}`, drop: async () => rmSync(dirname(file), { recursive: true, force: true }) };
}

/** A raw pg connection to `url`'s schema; `settings` are more `-c name=value` options. */
async function pgClient(url: string, settings = ""): Promise<pg.Client> {
  const { connectionString, schema } = postgresTarget(url);
  const client = new pg.Client({ connectionString, options: `-c search_path=${quoteIdent(schema)} ${settings}`.trim() });
  await client.connect();
  return client;
}

function openSqlite(url: string): Database.Database {
  const raw = new Database(sqlitePath(url));
  raw.pragma("journal_mode = WAL");
  raw.pragma("synchronous = FULL");
  raw.pragma("foreign_keys = ON");
  return raw;
}

/** The app (API, engine without a worker) on `url`, with an admin token. */
async function openApp(url: string, env: Record<string, string> = {}): Promise<App> {
  const config = loadConfig({ DATABASE_URL: url, FORGE_PORT: "0", LOG_LEVEL: "silent", FORGE_ADMIN_TOKEN: TOKEN, ...env });
  return buildApp(config, { log: pino({ level: "silent" }) });
}

async function gql(app: App, query: string, variables?: unknown): Promise<any> {
  const response = await app.yoga.fetch("http://forge.bench/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json", authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: unknown; errors?: unknown };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

// ---------------------------------------------------------------------------------------
// Seeding: copies of one real finished run.

/** Adds `n` finished two-step noop runs of job type `jobType`: one made by Forge, n - 1 copies of it, finished a day ago. */
async function seedFinished(dialect: Dialect, url: string, n: number, jobType = "seeded"): Promise<void> {
  const db = await Db.open({ url });
  const forge = await startEngine(db);
  const [original] = await forge.createRuns([input(jobType)]);
  const tick = await forge.tickOnce(100);
  if (tick.succeeded !== 1 || !original) throw new Error("the run to copy did not succeed");
  await forge.stop();
  await db.close();
  const base = Date.now() - DAY_MS;
  const CHUNK = 10_000;
  const copies = n - 1;
  if (dialect === "sqlite") {
    const raw = openSqlite(url);
    raw.pragma("synchronous = NORMAL");
    const cols = (table: string) =>
      (raw.prepare(`SELECT name FROM pragma_table_info('${table}')`).all() as Array<{ name: string }>).map((r) => r.name);
    const t = "(v.value ->> 't')";
    const statements = copySql(cols, "json_each(?) AS v", "v.value ->> 'id'", t, "v.key").map((sql) => raw.prepare(sql));
    const insert = raw.transaction((rows: string) => {
      for (const s of statements) s.run(rows, original.id);
    });
    for (let i = 0; i < copies; i += CHUNK) {
      const rows = Array.from({ length: Math.min(CHUNK, copies - i) }, (_, k) => {
        const at = base + i + k;
        return { id: newRunId(new Date(at)), t: at };
      });
      insert(JSON.stringify(rows));
    }
    raw.pragma("wal_checkpoint(TRUNCATE)");
    raw.close();
    return;
  }
  const client = await pgClient(url);
  try {
    const columns = new Map<string, string[]>();
    for (const table of ["runs", "steps", "events", "artifacts"]) {
      const result = await client.query(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        [table],
      );
      columns.set(
        table,
        result.rows.map((r) => r.column_name as string),
      );
    }
    const t = "('epoch'::timestamp + v.t * interval '1 millisecond')";
    const statements = copySql(
      (table) => columns.get(table) ?? [],
      "unnest($1::text[], $3::bigint[]) WITH ORDINALITY AS v(id, t, n)",
      "v.id",
      t,
      "v.n",
    ).map((sql) => sql.replaceAll("r.id = ?", "r.id = $2"));
    for (let i = 0; i < copies; i += CHUNK) {
      const ids: string[] = [];
      const ats: number[] = [];
      for (let k = 0; k < Math.min(CHUNK, copies - i); k++) {
        const at = base + i + k;
        ids.push(newRunId(new Date(at)));
        ats.push(at);
      }
      await client.query("BEGIN");
      for (const sql of statements) await client.query(sql, [ids, original.id, ats]);
      await client.query("COMMIT");
    }
    await client.query("VACUUM ANALYZE runs");
    await client.query("VACUUM ANALYZE steps");
    await client.query("VACUUM ANALYZE events");
  } finally {
    await client.end();
  }
}

/**
 * INSERT ... SELECT statements copying the run `r` (the parameter after the rows) with its
 * steps, events and artifacts once per row of `source`: every column as it is, but the run
 * id (`newId`) and the times, moved to start at `t`. Generated ids (events, artifacts) are new.
 */
function copySql(columnsOf: (table: string) => string[], source: string, newId: string, t: string, order: string): string[] {
  const copy = (table: string, alias: string, tail: string) => {
    const cols = columnsOf(table).filter((c) => !(c === "id" && (table === "events" || table === "artifacts")));
    const exprs = cols.map((c) =>
      (table === "runs" && c === "id") || c === "run_id" ? newId : TIMES.has(c) ? `${t} + (${alias}.${c} - r.created_at)` : `${alias}.${c}`,
    );
    return `INSERT INTO ${table} (${cols.join(", ")}) SELECT ${exprs.join(", ")} FROM ${source}, runs r ${tail}`;
  };
  return [
    copy("runs", "r", `WHERE r.id = ? ORDER BY ${order}`),
    copy("steps", "s", `JOIN steps s ON s.run_id = r.id WHERE r.id = ? ORDER BY ${order}, s.position`),
    copy("events", "e", `JOIN events e ON e.run_id = r.id WHERE r.id = ? ORDER BY ${order}, e.seq`),
    copy("artifacts", "a", `JOIN artifacts a ON a.run_id = r.id WHERE r.id = ? ORDER BY ${order}, a.id`),
  ];
}

/** A place holding `n` seeded finished runs: on SQLite a copy of one template file per size, on PostgreSQL seeded afresh. */
class FinishedRuns {
  readonly #templates = new Map<number, Place>();
  constructor(readonly dialect: Dialect) {}

  async place(n: number, tag: string): Promise<Place> {
    if (this.dialect === "postgres") {
      const place = freshPlace("postgres", tag);
      await seedFinished("postgres", place.url, n);
      return place;
    }
    let template = this.#templates.get(n);
    if (!template) {
      template = freshPlace("sqlite", tag);
      await seedFinished("sqlite", template.url, n);
      this.#templates.set(n, template);
    }
    return copyOf(template);
  }

  async drop(): Promise<void> {
    for (const t of this.#templates.values()) await t.drop();
  }
}

// ---------------------------------------------------------------------------------------
// 1. pruneRuns against the raw driver.

const PRUNE = `mutation($before: DateTime!) { pruneRuns(finishedBefore: $before) { runs events artifacts } }`;

async function forgePrune(place: Place, n: number): Promise<number> {
  const app = await openApp(place.url);
  const started = performance.now();
  const data = await gql(app, PRUNE, { before: new Date().toISOString() });
  const ms = performance.now() - started;
  await app.stop();
  if (data.pruneRuns.runs !== n) throw new Error(`pruneRuns deleted ${data.pruneRuns.runs} runs, expected ${n}`);
  return ms;
}

/** The prune's statements with the raw driver: pick a batch oldest finished first, count its artifacts, delete the runs (the rest cascades). */
async function rawPrune(dialect: Dialect, place: Place, n: number): Promise<number> {
  let deleted = 0;
  const before = Date.now();
  const statuses = TERMINAL.map((s) => `'${s}'`).join(", ");
  let ms: number;
  if (dialect === "sqlite") {
    const raw = openSqlite(place.url);
    // By runs_finished_idx: without INDEXED BY, SQLite reads the status index and sorts every finished run.
    const pick = raw.prepare(
      `SELECT id, seq FROM runs INDEXED BY runs_finished_idx WHERE finished_at IS NOT NULL AND finished_at < ? AND status IN (${statuses})
         ORDER BY finished_at LIMIT ?`,
    );
    const byCount = new Map<number, { count: Database.Statement; remove: Database.Statement }>();
    const statementsFor = (k: number) => {
      let s = byCount.get(k);
      if (!s) {
        const list = Array.from({ length: k }, () => "?").join(", ");
        s = {
          count: raw.prepare(`SELECT count(*) AS n FROM artifacts WHERE run_id IN (${list})`),
          remove: raw.prepare(`DELETE FROM runs WHERE id IN (${list})`),
        };
        byCount.set(k, s);
      }
      return s;
    };
    const batch = raw.transaction(() => {
      const ids = (pick.all(before, PRUNE_BATCH) as Array<{ id: string }>).map((r) => r.id);
      if (ids.length === 0) return 0;
      const s = statementsFor(ids.length);
      s.count.get(...ids);
      return s.remove.run(...ids).changes;
    });
    const started = performance.now();
    for (;;) {
      const k = batch();
      if (k === 0) break;
      deleted += k;
    }
    ms = performance.now() - started;
    raw.close();
  } else {
    const client = await pgClient(place.url);
    const started = performance.now();
    for (;;) {
      await client.query("BEGIN");
      const picked = await client.query(
        `SELECT id, seq FROM runs WHERE finished_at IS NOT NULL AND finished_at < 'epoch'::timestamp + $1::bigint * interval '1 millisecond'
           AND status IN (${statuses}) ORDER BY finished_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
        [before, PRUNE_BATCH],
      );
      const ids = picked.rows.map((r) => r.id as string);
      if (ids.length > 0) {
        await client.query("SELECT count(*) AS n FROM artifacts WHERE run_id = ANY($1)", [ids]);
        deleted += (await client.query("DELETE FROM runs WHERE id = ANY($1)", [ids])).rowCount ?? 0;
      }
      await client.query("COMMIT");
      if (ids.length === 0) break;
    }
    ms = performance.now() - started;
    await client.end();
  }
  if (deleted !== n) throw new Error(`the raw prune deleted ${deleted} runs, expected ${n}`);
  return ms;
}

async function benchPrune(dialect: Dialect, seeds: FinishedRuns, n: number, rounds: number): Promise<void> {
  const forge: number[] = [];
  const raw: number[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const side of round % 2 === 0 ? ["forge", "raw"] : ["raw", "forge"]) {
      const place = await seeds.place(n, "prune");
      if (side === "forge") forge.push((n / (await forgePrune(place, n))) * 1000);
      else raw.push((n / (await rawPrune(dialect, place, n))) * 1000);
      await place.drop();
    }
  }
  printTable(
    `${LABEL[dialect]}: pruneRuns of ${fmt(n)} finished runs (2 steps, 7 events each), batches of ${PRUNE_BATCH} runs per transaction; ${rounds} alternating round(s)`,
    ["deleted by", "runs/s (median)", "of raw", "runs/s by round"],
    [
      ["pruneRuns mutation (yoga.fetch)", fmt(median(forge)), fmt(median(forge) / median(raw), 2), forge.map((r) => fmt(r)).join(", ")],
      [
        `raw ${dialect === "sqlite" ? "better-sqlite3" : "pg"}, same statements`,
        fmt(median(raw)),
        "1.00",
        raw.map((r) => fmt(r)).join(", "),
      ],
    ],
  );
}

// ---------------------------------------------------------------------------------------
// 2. The worker's throughput while a prune runs in the same process.

interface Drain {
  rate: number;
  /** The share of the drain during which the prune was still running (1 with no prune: not applicable). */
  overlap: number;
  loopP99: number;
  loopMax: number;
  pruneRate: number | null;
}

/**
 * Creates `runs` one-step noop runs (createRuns of 100) drained by the engine's worker; with
 * `prune`, while pruneRuns deletes the seeded runs. Also how long the event loop was held:
 * the gaps of a 5 ms timer past its due time.
 */
async function drain(place: Place, runs: number, prune: boolean, seeded: number): Promise<Drain> {
  const db = await Db.open({ url: place.url });
  const forge = await startEngine(db, { workerEnabled: true });
  const noop = input("drain", { steps: { s: { type: "noop" } } });
  const started = performance.now();
  const loop = loopBlocks();
  let pruneEnd = Number.POSITIVE_INFINITY;
  const pruning = prune
    ? forge.lifecycle.prune(new Date(), null, false).then((r) => {
        pruneEnd = performance.now();
        return r;
      })
    : null;
  for (let i = 0; i < runs; i += 100) {
    await forge.createRuns(Array.from({ length: Math.min(100, runs - i) }, () => noop));
    // Each call in a turn of its own, as requests come in over HTTP.
    await new Promise((resolve) => setImmediate(resolve));
  }
  await untilDrained(forge);
  const end = performance.now();
  const blocks = loop.stop();
  const pruned = await pruning;
  if (pruned && pruned.runs !== seeded) throw new Error(`the prune deleted ${pruned.runs} runs, expected ${seeded}`);
  const [done] = await db.read.$queryRawUnsafe<Array<{ n: number | bigint }>>(
    "SELECT count(*) AS n FROM runs WHERE job_type = 'drain' AND status = 'SUCCEEDED'",
  );
  if (Number(done?.n) !== runs) throw new Error(`expected ${runs} runs to succeed, got ${done?.n}`);
  await forge.stop();
  await db.close();
  return {
    rate: (runs / (end - started)) * 1000,
    overlap: prune ? Math.min(1, (Math.min(pruneEnd, end) - started) / (end - started)) : 1,
    loopP99: percentile(blocks, 99),
    loopMax: blocks.at(-1) ?? 0,
    pruneRate: pruned ? (pruned.runs / (pruneEnd - started)) * 1000 : null,
  };
}

/** How long each turn of the event loop was held past a 5 ms timer's due time, sorted: started now, read by stop(). */
function loopBlocks(): { stop(): number[] } {
  const blocks: number[] = [];
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    blocks.push(Math.max(0, now - last - 5));
    last = now;
  }, 5);
  return {
    stop() {
      clearInterval(timer);
      return blocks.sort((a, b) => a - b);
    },
  };
}

/** Until no run is due or leased (runs_wake_at_idx: only unfinished runs are in it), once every run is created. */
async function untilDrained(forge: Forge): Promise<void> {
  for (;;) {
    const [row] = await forge.db.read.$queryRawUnsafe<Array<{ n: number | bigint }>>(
      "SELECT count(*) AS n FROM runs WHERE wake_at IS NOT NULL",
    );
    if (Number(row?.n) === 0) return;
    await sleep(10);
  }
}

async function benchWorkerDuringPrune(dialect: Dialect, seeds: FinishedRuns, o: { seeded: number; runs: number; rounds: number }) {
  // Warm up the engine's paths (JIT, Prisma's query compiler) on a small drain and prune.
  const warm = await seeds.place(Math.min(2000, o.seeded), "warm");
  await drain(warm, 500, true, Math.min(2000, o.seeded));
  await warm.drop();
  const without: Drain[] = [];
  const withPrune: Drain[] = [];
  for (let round = 0; round < o.rounds; round++) {
    for (const prune of round % 2 === 0 ? [false, true] : [true, false]) {
      const place = await seeds.place(o.seeded, "drain");
      (prune ? withPrune : without).push(await drain(place, o.runs, prune, o.seeded));
      await place.drop();
    }
  }
  const ratios = withPrune.map((w, i) => w.rate / (without[i] as Drain).rate);
  printTable(
    `${LABEL[dialect]}: worker noop runs/s (${fmt(o.runs)} one-step runs created by createRuns of 100 and drained by the in-process worker, ${fmt(o.seeded)} finished runs in the tables) with a pruneRuns of those ${fmt(o.seeded)} running in the same process, against none; ${o.rounds} alternating rounds`,
    [
      "round",
      "no prune runs/s",
      "during prune runs/s",
      "during / none",
      "prune ran for",
      "prune runs/s",
      "loop held p99 / max ms, none",
      "during prune",
    ],
    [
      ...withPrune.map((w, i) => {
        const n = without[i] as Drain;
        return [
          i + 1,
          fmt(n.rate),
          fmt(w.rate),
          fmt(ratios[i] as number, 2),
          `${fmt(w.overlap * 100)}% of the drain`,
          fmt(w.pruneRate ?? 0),
          `${fmt(n.loopP99, 1)} / ${fmt(n.loopMax, 1)}`,
          `${fmt(w.loopP99, 1)} / ${fmt(w.loopMax, 1)}`,
        ];
      }),
      [
        "median",
        fmt(median(without.map((d) => d.rate))),
        fmt(median(withPrune.map((d) => d.rate))),
        fmt(median(ratios), 2),
        "",
        fmt(median(withPrune.map((d) => d.pruneRate ?? 0))),
        "",
        "",
      ],
    ],
  );
}

// ---------------------------------------------------------------------------------------
// 3. cancelRuns against the raw driver.

const CANCEL = `mutation { cancelRuns(filter: { status: [PENDING] }) { matched affected } }`;

/** A place holding `n` pending two-step runs created by createRuns (500 at a time). */
async function pendingRuns(dialect: Dialect, n: number, template: Place | null): Promise<Place> {
  if (template) return copyOf(template);
  const place = freshPlace(dialect, "cancel");
  const db = await Db.open({ url: place.url });
  const forge = await startEngine(db);
  for (let i = 0; i < n; i += 500) await forge.createRuns(Array.from({ length: Math.min(500, n - i) }, () => input("bench")));
  await forge.stop();
  await db.close();
  if (dialect === "sqlite") {
    const raw = openSqlite(place.url);
    raw.pragma("wal_checkpoint(TRUNCATE)");
    raw.close();
  } else {
    const client = await pgClient(place.url);
    await client.query("VACUUM ANALYZE runs");
    await client.end();
  }
  return place;
}

async function forgeCancel(place: Place, n: number): Promise<number> {
  const app = await openApp(place.url);
  const started = performance.now();
  const data = await gql(app, CANCEL);
  const ms = performance.now() - started;
  await app.stop();
  if (data.cancelRuns.affected !== n) throw new Error(`cancelRuns cancelled ${data.cancelRuns.affected}, expected ${n}`);
  return ms;
}

interface PageRow {
  id: string;
  created_at: number | Date;
}

/**
 * The same writes as cancelRuns with the raw driver, in the same batches: a page of the
 * matching runs newest first (outside the transaction), then in one transaction the page's
 * unfinished runs and their steps read (locked on PostgreSQL), the runs CANCELLED with their
 * lease taken (epoch + 1), their unfinished steps CANCELLED, and step_cancelled for each
 * and run_cancelled appended (under the events lock on PostgreSQL).
 */
async function rawCancel(dialect: Dialect, place: Place, n: number): Promise<number> {
  let cancelled = 0;
  const at = Date.now();
  let ms: number;
  const terminal = TERMINAL.map((s) => `'${s}'`).join(", ");
  if (dialect === "sqlite") {
    const raw = openSqlite(place.url);
    const first = raw.prepare(
      "SELECT id, status, created_at FROM runs WHERE created_at <= ? AND status IN ('PENDING') ORDER BY created_at DESC, id DESC LIMIT ?",
    );
    const next = raw.prepare(`SELECT id, status, created_at FROM runs WHERE created_at <= ? AND status IN ('PENDING')
      AND (created_at < ? OR (created_at = ? AND id < ?)) ORDER BY created_at DESC, id DESC LIMIT ?`);
    const byCount = new Map<number, { runs: Database.Statement; steps: Database.Statement }>();
    const readsFor = (k: number) => {
      let s = byCount.get(k);
      if (!s) {
        const list = Array.from({ length: k }, () => "?").join(", ");
        s = {
          runs: raw.prepare(`SELECT * FROM runs WHERE id IN (${list}) AND status NOT IN (${terminal}) ORDER BY id`),
          steps: raw.prepare(`SELECT * FROM steps WHERE run_id IN (${list}) ORDER BY run_id, position`),
        };
        byCount.set(k, s);
      }
      return s;
    };
    const updateRun = raw.prepare(`UPDATE runs SET status = 'CANCELLED', seq = ?, started_at = ?, finished_at = ?, updated_at = ?,
      wake_at = NULL, lease_owner = NULL, lease_expires_at = NULL, lease_epoch = lease_epoch + 1 WHERE id = ? AND seq = ?`);
    const updateStep = raw.prepare(`UPDATE steps SET status = 'CANCELLED', attempts = ?, started_at = ?, finished_at = ?, output = ?,
      error = ?, wake_at = NULL WHERE run_id = ? AND id = ?`);
    const insertEvent = raw.prepare("INSERT INTO events (run_id, seq, type, step_id, data, created_at) VALUES (?, ?, ?, ?, ?, ?)");
    const cancel = raw.transaction((ids: string[]) => {
      const now = Date.now();
      const s = readsFor(ids.length);
      const runs = s.runs.all(...ids) as Array<{ id: string; seq: number; started_at: number | null }>;
      const steps = s.steps.all(...runs.map((r) => r.id)) as Array<
        Record<string, unknown> & { run_id: string; id: string; status: string }
      >;
      let k = 0;
      for (const run of runs) {
        const open = steps.filter((st) => st.run_id === run.id && !TERMINAL.includes(st.status) && st.status !== "SKIPPED");
        let seq = run.seq;
        for (const st of open) {
          updateStep.run(st.attempts, st.started_at, now, st.output, st.error, run.id, st.id);
          insertEvent.run(run.id, ++seq, "step_cancelled", st.id, null, now);
        }
        insertEvent.run(run.id, ++seq, "run_cancelled", null, JSON.stringify({ cancelledSteps: open.map((st) => st.id) }), now);
        k += updateRun.run(seq, run.started_at, now, now, run.id, run.seq).changes;
      }
      return k;
    });
    const started = performance.now();
    let after: PageRow | null = null;
    for (;;) {
      const page = (
        after ? next.all(at, after.created_at, after.created_at, after.id, BULK_BATCH) : first.all(at, BULK_BATCH)
      ) as PageRow[];
      if (page.length === 0) break;
      cancelled += cancel(page.map((r) => r.id));
      after = page[page.length - 1] as PageRow;
      if (page.length < BULK_BATCH) break;
    }
    ms = performance.now() - started;
    raw.close();
  } else {
    const client = await pgClient(place.url);
    const ts = (p: string) => `'epoch'::timestamp + ${p}::bigint * interval '1 millisecond'`;
    const started = performance.now();
    let after: PageRow | null = null;
    for (;;) {
      const page: PageRow[] = (
        after
          ? await client.query(
              `SELECT id, status, created_at FROM runs WHERE created_at <= ${ts("$1")} AND status IN ('PENDING')
                 AND (created_at < $2 OR (created_at = $2 AND id < $3)) ORDER BY created_at DESC, id DESC LIMIT $4`,
              [at, after.created_at, after.id, BULK_BATCH],
            )
          : await client.query(
              `SELECT id, status, created_at FROM runs WHERE created_at <= ${ts("$1")} AND status IN ('PENDING')
                 ORDER BY created_at DESC, id DESC LIMIT $2`,
              [at, BULK_BATCH],
            )
      ).rows;
      if (page.length === 0) break;
      const now = Date.now();
      await client.query("BEGIN");
      const runs = (
        await client.query(`SELECT * FROM runs WHERE id = ANY($1) AND status NOT IN (${terminal}) ORDER BY id FOR UPDATE`, [
          page.map((r) => r.id),
        ])
      ).rows as Array<{ id: string; seq: number }>;
      const steps = (await client.query("SELECT * FROM steps WHERE run_id = ANY($1) ORDER BY run_id, position", [runs.map((r) => r.id)]))
        .rows as Array<{ run_id: string; id: string; status: string }>;
      const stepRun: string[] = [];
      const stepId: string[] = [];
      const ev: { run: string[]; seq: number[]; type: string[]; step: Array<string | null>; data: Array<string | null> } = {
        run: [],
        seq: [],
        type: [],
        step: [],
        data: [],
      };
      const runSeq: number[] = [];
      for (const run of runs) {
        const open = steps.filter((st) => st.run_id === run.id && !TERMINAL.includes(st.status) && st.status !== "SKIPPED");
        let seq = run.seq;
        for (const st of open) {
          stepRun.push(run.id);
          stepId.push(st.id);
          ev.run.push(run.id);
          ev.seq.push(++seq);
          ev.type.push("step_cancelled");
          ev.step.push(st.id);
          ev.data.push(null);
        }
        ev.run.push(run.id);
        ev.seq.push(++seq);
        ev.type.push("run_cancelled");
        ev.step.push(null);
        ev.data.push(JSON.stringify({ cancelledSteps: open.map((st) => st.id) }));
        runSeq.push(seq);
      }
      const updated = await client.query(
        `UPDATE runs SET status = 'CANCELLED', seq = v.seq, finished_at = ${ts("$3")}, updated_at = ${ts("$3")}, wake_at = NULL,
           lease_owner = NULL, lease_expires_at = NULL, lease_epoch = runs.lease_epoch + 1
         FROM unnest($1::text[], $2::int[], $4::int[]) AS v(id, seq, base) WHERE runs.id = v.id AND runs.seq = v.base`,
        [runs.map((r) => r.id), runSeq, now, runs.map((r) => r.seq)],
      );
      await client.query(
        `UPDATE steps SET status = 'CANCELLED', finished_at = ${ts("$3")}, wake_at = NULL
         FROM unnest($1::text[], $2::text[]) AS v(run_id, id) WHERE steps.run_id = v.run_id AND steps.id = v.id`,
        [stepRun, stepId, now],
      );
      await client.query("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.forge_events'))");
      await client.query(
        `INSERT INTO events (run_id, seq, type, step_id, data, created_at)
         SELECT run_id, seq, type, step_id, data, ${ts("$6")}
         FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS v(run_id, seq, type, step_id, data, n)
         ORDER BY n`,
        [ev.run, ev.seq, ev.type, ev.step, ev.data, now],
      );
      await client.query("COMMIT");
      cancelled += updated.rowCount ?? 0;
      after = page[page.length - 1] as PageRow;
      if (page.length < BULK_BATCH) break;
    }
    ms = performance.now() - started;
    await client.end();
  }
  if (cancelled !== n) throw new Error(`the raw cancel cancelled ${cancelled} runs, expected ${n}`);
  return ms;
}

async function benchCancel(dialect: Dialect, n: number, rounds: number): Promise<void> {
  const template = dialect === "sqlite" ? await pendingRuns("sqlite", n, null) : null;
  const forge: number[] = [];
  const raw: number[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const side of round % 2 === 0 ? ["forge", "raw"] : ["raw", "forge"]) {
      const place = await pendingRuns(dialect, n, template);
      if (side === "forge") forge.push((n / (await forgeCancel(place, n))) * 1000);
      else raw.push((n / (await rawCancel(dialect, place, n))) * 1000);
      await place.drop();
    }
  }
  await template?.drop();
  printTable(
    `${LABEL[dialect]}: cancelRuns of ${fmt(n)} pending two-step runs (each: run CANCELLED, 2 steps CANCELLED, 3 events), batches of ${BULK_BATCH} runs per transaction; ${rounds} alternating round(s)`,
    ["cancelled by", "runs/s (median)", "of raw", "runs/s by round"],
    [
      ["cancelRuns mutation (yoga.fetch)", fmt(median(forge)), fmt(median(forge) / median(raw), 2), forge.map((r) => fmt(r)).join(", ")],
      [`raw ${dialect === "sqlite" ? "better-sqlite3" : "pg"}, same writes`, fmt(median(raw)), "1.00", raw.map((r) => fmt(r)).join(", ")],
    ],
  );
}

// ---------------------------------------------------------------------------------------
// 4. Run.waiting in a list.

const LISTS: Array<[string, string]> = [
  ["id status (the bound)", "{ runs(first: 500) { edges { node { id status } } } }"],
  ["id status waiting", "{ runs(first: 500) { edges { node { id status waiting { reason until detail } } } } }"],
  ["id status steps", "{ runs(first: 500) { edges { node { id status steps { status } } } } }"],
  ["id status waiting steps", "{ runs(first: 500) { edges { node { id status waiting { reason until detail } steps { status } } } } }"],
];

async function benchWaitingList(dialect: Dialect, repetitions: number): Promise<void> {
  const place = freshPlace(dialect, "waiting");
  const folder = mkdtempSync(join(tmpdir(), "forge-bench-policy-"));
  const policyFile = join(folder, "policy.json");
  writeFileSync(policyFile, JSON.stringify({ "*": { laneConcurrency: { capped: 1 } } }));
  const app = await openApp(place.url, { FORGE_POLICY_FILE: policyFile });
  const forge = app.forge;
  const nap = { steps: { nap: { type: "sleep", params: { ms: 3_600_000 } }, after: { type: "noop", deps: ["nap"] } } };
  // 125 in a paused lane, 125 sleeping, 125 in a lane capped at 1 (one of them sleeping holds
  // its slot), then 125 queued: created after the ticks, with no worker, so they stay due.
  await forge.lifecycle.pause("held", null, "benchmark");
  await forge.createRuns(Array.from({ length: 125 }, () => input("bench", TWO_NOOPS, "held")));
  await forge.createRuns(Array.from({ length: 125 }, () => input("bench", nap)));
  await forge.createRuns(Array.from({ length: 125 }, () => input("bench", nap, "capped")));
  while ((await forge.tickOnce(100)).ticked > 0) {}
  await forge.createRuns(Array.from({ length: 125 }, () => input("bench")));
  const check = await gql(app, LISTS[1]?.[1] as string);
  const reasons = new Map<string, number>();
  for (const { node } of check.runs.edges as Array<{ node: { waiting: { reason: string } | null } }>) {
    const reason = node.waiting?.reason ?? "null";
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
  }
  const samples = new Map<string, number[]>(LISTS.map(([name]) => [name, []]));
  for (let i = 0; i < 3; i++) for (const [, query] of LISTS) await gql(app, query); // warm-up
  for (let i = 0; i < repetitions; i++) {
    // Each repetition asks all four, starting from a different one.
    for (let k = 0; k < LISTS.length; k++) {
      const [name, query] = LISTS[(i + k) % LISTS.length] as [string, string];
      const t = performance.now();
      await gql(app, query);
      samples.get(name)?.push(performance.now() - t);
    }
  }
  await app.stop();
  await place.drop();
  rmSync(folder, { recursive: true, force: true });
  const ms = (name: string) => median(samples.get(name) ?? []);
  const p90 = (name: string) =>
    percentile(
      [...(samples.get(name) ?? [])].sort((a, b) => a - b),
      90,
    );
  const bound = ms("id status (the bound)");
  const mix = [...reasons.entries()].map(([r, n]) => `${r} ${n}`).join(", ");
  printTable(
    `${LABEL[dialect]}: runs(first: 500) over HTTP (yoga.fetch), 500 runs in mixed states (waiting: ${mix}); median of ${repetitions}, the four queries in turn`,
    ["selection", "ms per request (median)", "p90 ms", "of id status", "of the same without waiting"],
    LISTS.map(([name]) => [
      name,
      fmt(ms(name), 1),
      fmt(p90(name), 1),
      fmt(ms(name) / bound, 2),
      name === "id status waiting"
        ? fmt(ms(name) / bound, 2)
        : name === "id status waiting steps"
          ? fmt(ms(name) / ms("id status steps"), 2)
          : "",
    ]),
  );
}

// ---------------------------------------------------------------------------------------
// 5. The pause check in the claim.

interface PauseVariant {
  name: string;
  /** Pauses of other lanes in force (of three set, the rest lifted). */
  pauses: number;
  /** PostgreSQL: the pauses table analyzed while they are in force, as autovacuum does once it has seen 50 changes. */
  analyzed: boolean;
}

function pauseVariants(dialect: Dialect): PauseVariant[] {
  return [
    { name: "none", pauses: 0, analyzed: false },
    { name: "3 of other lanes", pauses: 3, analyzed: false },
    ...(dialect === "postgres" ? [{ name: "3 of other lanes, pauses analyzed", pauses: 3, analyzed: true }] : []),
  ];
}

/**
 * Puts the pauses of `variant` in force through the API: all three lifted, then those it
 * keeps set again. On PostgreSQL the pauses table is analyzed in between (empty), and again
 * once they are set for the variant that has it analyzed.
 */
async function setPauses(forge: Forge, variant: PauseVariant): Promise<void> {
  for (let i = 0; i < 3; i++) await forge.lifecycle.resume(`other-${i}`, null);
  if (forge.db.dialect === "postgres") await forge.db.read.$executeRawUnsafe("ANALYZE pauses");
  for (let i = 0; i < variant.pauses; i++) await forge.lifecycle.pause(`other-${i}`, null, "benchmark");
  if (variant.analyzed) await forge.db.read.$executeRawUnsafe("ANALYZE pauses");
}

/** Ticks (by 100) until `runs` more runs have succeeded: runs/s, and the process's CPU time per run. */
async function tickSome(forge: Forge, runs: number): Promise<{ rate: number; cpuUs: number }> {
  const started = performance.now();
  const cpu = process.cpuUsage();
  let succeeded = 0;
  while (succeeded < runs) {
    const tick = await forge.tickOnce(100);
    if (tick.ticked === 0) throw new Error(`the queue ran dry after ${succeeded} of ${runs} runs`);
    succeeded += tick.succeeded;
  }
  const used = process.cpuUsage(cpu);
  return { rate: (succeeded / (performance.now() - started)) * 1000, cpuUs: (used.user + used.system) / succeeded };
}

interface PickVariant extends PauseVariant {
  /** The pick without its pause check. */
  bare?: boolean;
  /** A pause of the lane every queued run is in, so that the pick passes over all of them. */
  ownLane?: boolean;
}

/**
 * The claim's pick (claim.ts pickIds, uncapped) alone with the raw driver, µs per pick of 100
 * from the queue at `place`: without the pause check (the pick as it was before pauses; the
 * bound), with it under each variant, and with the queued runs' own lane paused (the pick then
 * passes over every queued run and returns none). Each variant picks `picks` times, or for two
 * seconds if that is less. On PostgreSQL the pauses table is analyzed afresh (empty) before
 * each variant sets its pauses.
 */
async function pickAlone(dialect: Dialect, place: Place, picks: number, rounds: number) {
  const db = await Db.open({ url: place.url, synchronous: "NORMAL" });
  const pick = pickIds(db, { owner: "bench", now: new Date(Date.now() + 60_000), leaseMs: 60_000, limit: 100 }, false);
  await db.close();
  const check = notPaused("runs").sql;
  const withCheck = dialect === "sqlite" ? pick.sql : pick.text;
  if (!withCheck.includes(check)) throw new Error("the pick has no pause check to leave out");
  const variants: PickVariant[] = [
    { name: "no check (the bound)", pauses: 0, analyzed: false, bare: true },
    ...pauseVariants(dialect).map((v) => ({ ...v, name: `check, ${v.name === "none" ? "no pause" : v.name}` })),
    { name: "check, the queued runs' own lane paused", pauses: 0, analyzed: false, ownLane: true },
  ];
  const values = pick.values.map((v) => (v instanceof Date ? (dialect === "sqlite" ? v.getTime() : v.toISOString().slice(0, -1)) : v));
  const samples = new Map<string, { us: number[]; returned: number }>(variants.map((v) => [v.name, { us: [], returned: 0 }]));
  // The pick locks the rows it picks (FOR UPDATE SKIP LOCKED): alone, each pick is a
  // transaction that writes, whose commit would wait for the WAL flush unless told not to.
  const client = dialect === "sqlite" ? null : await pgClient(place.url, "-c synchronous_commit=off");
  const raw = dialect === "sqlite" ? openSqlite(place.url) : null;
  const exec = async (sql: string) => {
    if (raw) raw.exec(sql);
    else await client?.query(sql);
  };
  const at = dialect === "sqlite" ? "0" : "now()";
  const time = async (sql: string): Promise<{ us: number; returned: number }> => {
    const statement = raw?.prepare(sql);
    const once = async () => (statement ? statement.all(...values).length : ((await client?.query(sql, values))?.rowCount ?? 0));
    const started = performance.now();
    let returned = 0;
    let n = 0;
    while (n < picks && (n < 10 || performance.now() - started < 2000)) {
      returned = await once();
      n++;
    }
    return { us: ((performance.now() - started) / n) * 1000, returned };
  };
  for (let round = 0; round <= rounds; round++) {
    for (const v of round % 2 === 0 ? variants : [...variants].reverse()) {
      await exec("DELETE FROM pauses");
      if (client) await exec("ANALYZE pauses");
      for (let i = 0; i < v.pauses; i++) {
        await exec(`INSERT INTO pauses (lane, job_type, paused_at, reason) VALUES ('other-${i}', '', ${at}, NULL)`);
      }
      if (v.ownLane) await exec(`INSERT INTO pauses (lane, job_type, paused_at, reason) VALUES ('default', '', ${at}, NULL)`);
      if (v.analyzed) await exec("ANALYZE pauses");
      const result = await time(v.bare ? withCheck.replace(check, "1 = 1") : withCheck);
      const sample = samples.get(v.name);
      if (sample && round > 0) {
        // Round 0 warms up.
        sample.us.push(result.us);
        sample.returned = result.returned;
      }
    }
  }
  await exec("DELETE FROM pauses");
  raw?.close();
  await client?.end();
  return samples;
}

/**
 * Ticks from a queue of `queued` due runs (and more: `perTrial` for each trial), `perTrial`
 * runs per trial under each variant in turn, on one database; then the pick alone from what
 * is left. On PostgreSQL the runs table is analyzed once the queue is in (a live one always
 * has statistics).
 */
async function benchPauses(dialect: Dialect, o: { queued: number; perTrial: number; rounds: number; picks: number }): Promise<void> {
  const variants = pauseVariants(dialect);
  const place = freshPlace(dialect, "pauses");
  const db = await Db.open({ url: place.url, synchronous: "NORMAL" });
  const forge = await startEngine(db);
  const total = o.queued + (o.rounds * variants.length + 1) * o.perTrial;
  const noop = input("bench", { steps: { s: { type: "noop" } } });
  for (let i = 0; i < total; i += 500) await forge.createRuns(Array.from({ length: Math.min(500, total - i) }, () => noop));
  if (dialect === "postgres") await db.read.$executeRawUnsafe("ANALYZE runs");
  await setPauses(forge, variants[1] as PauseVariant);
  await tickSome(forge, o.perTrial); // warm-up
  const rates = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  const cpus = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  for (let round = 0; round < o.rounds; round++) {
    for (const v of round % 2 === 0 ? variants : [...variants].reverse()) {
      await setPauses(forge, v);
      const { rate, cpuUs } = await tickSome(forge, o.perTrial);
      rates.get(v.name)?.push(rate);
      cpus.get(v.name)?.push(cpuUs);
    }
  }
  await setPauses(forge, variants[0] as PauseVariant);
  await forge.stop();
  await db.close();
  const noneRate = median(rates.get("none") ?? []);
  const noneCpu = least(cpus.get("none") ?? []);
  printTable(
    `${LABEL[dialect]}${dialect === "sqlite" ? " NORMAL" : ""}: claim + tick (ticks of 100) of ${fmt(o.perTrial)} one-step noop runs per trial from a queue of ${fmt(o.queued)} or more, with no pause and with pauses of other lanes; ${o.rounds} alternating rounds`,
    ["pauses", "runs/s (median)", "of none", "CPU µs/run (least)", "none / this", "runs/s by round"],
    variants.map((v) => [
      v.name,
      fmt(median(rates.get(v.name) ?? [])),
      fmt(median(rates.get(v.name) ?? []) / noneRate, 2),
      fmt(least(cpus.get(v.name) ?? [])),
      fmt(noneCpu / least(cpus.get(v.name) ?? []), 2),
      (rates.get(v.name) ?? []).map((r) => fmt(r)).join(", "),
    ]),
  );
  const samples = await pickAlone(dialect, place, o.picks, o.rounds);
  await place.drop();
  const bound = median(samples.get("no check (the bound)")?.us ?? []);
  printTable(
    `${LABEL[dialect]}: the claim's pick alone (raw ${dialect === "sqlite" ? "better-sqlite3" : "pg"}), picks of 100 from the ${fmt(o.queued)} due runs left; median of ${o.rounds} alternating rounds of up to ${fmt(o.picks)} picks (or 2 s)`,
    ["pick", "µs per pick (median)", "of no check", "runs it returns", "µs by round"],
    [...samples.entries()].map(([name, { us, returned }]) => [
      name,
      fmt(median(us)),
      fmt(median(us) / bound, 2),
      returned,
      us.map((u) => fmt(u)).join(", "),
    ]),
  );
}

// ---------------------------------------------------------------------------------------

export const LIFECYCLE_PARTS = ["prune", "worker", "cancel", "waiting", "pauses"] as const;

export interface LifecycleOptions {
  dialect: Dialect;
  quick: boolean;
  /** Which parts to run (default: all). */
  parts?: readonly string[];
}

export async function benchLifecycle(o: LifecycleOptions): Promise<void> {
  const { dialect, quick } = o;
  const wants = (part: (typeof LIFECYCLE_PARTS)[number]) => !o.parts || o.parts.includes(part);
  const finished = quick ? 10_000 : 100_000;
  const seeds = new FinishedRuns(dialect);
  try {
    if (wants("prune")) await benchPrune(dialect, seeds, finished, quick ? 1 : 2);
    if (wants("worker"))
      await benchWorkerDuringPrune(dialect, seeds, { seeded: finished, runs: quick ? 1000 : 5000, rounds: quick ? 2 : 3 });
  } finally {
    await seeds.drop();
  }
  if (wants("cancel")) await benchCancel(dialect, quick ? 2000 : 10_000, quick ? 1 : 2);
  if (wants("waiting")) await benchWaitingList(dialect, quick ? 10 : 50);
  if (wants("pauses"))
    await benchPauses(dialect, {
      queued: quick ? 5000 : 50_000,
      perTrial: quick ? 500 : 2000,
      rounds: quick ? 3 : 5,
      picks: quick ? 200 : 1000,
    });
}
