// A chaos run on PostgreSQL: worker processes killed with SIGKILL at random while they drain
// a queue that keeps growing, and the database server restarted under them; then the
// engine's invariants, checked against what was committed and what executed.
//
//   npm run chaos                      # about a minute
//   npm run chaos -- --minutes 30 --workers 6 --kill-every-ms 1500 --restarts 5
//
// It starts a PostgreSQL server of its own (initdb/pg_ctl from the machine's PostgreSQL 15,
// run as the postgres user), so the restarts disturb nothing else. It prints one line per
// invariant and exits 1 if any is broken.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { systemClock } from "../src/clock.ts";
import type { CreateRunInput } from "../src/domain/run-input.ts";
import { Forge } from "../src/engine/forge.ts";
import { Db, isDatabaseUnavailable } from "../src/store/db.ts";
import { startPrivatePostgres } from "../tests/support/private-postgres.ts";
import { readExecutions, recordingRegistry } from "../tests/support/recording-steps.ts";

const { values: args } = parseArgs({
  options: {
    minutes: { type: "string", default: "1" },
    workers: { type: "string", default: "4" },
    "kill-every-ms": { type: "string", default: "2000" },
    restarts: { type: "string", default: "2" },
    "runs-per-second": { type: "string", default: "100" },
  },
});
const MINUTES = Number(args.minutes);
const WORKERS = Number(args.workers);
const KILL_EVERY_MS = Number(args["kill-every-ms"]);
const RESTARTS = Number(args.restarts);
const RUNS_PER_SECOND = Number(args["runs-per-second"]);

/** A run of three recorded steps in a chain, the middle one slow enough to be caught mid-tick. */
const RUN: CreateRunInput = {
  mode: "LIVE",
  jobType: "chaos",
  requestedBy: "chaos",
  graph: {
    steps: {
      a: { type: "record" },
      b: { type: "record", deps: ["a"], params: { sleepMs: 20 } },
      c: { type: "record", deps: ["b"] },
    },
  },
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Forge's command line with the recording step type (what the multi-process tests run). */
const RECORDING_MAIN = fileURLToPath(new URL("../tests/support/recording-forge.ts", import.meta.url));

interface WorkerProcess {
  child: ChildProcess;
  exited: Promise<void>;
}

function startWorker(env: Record<string, string>): WorkerProcess {
  const child = spawn(process.execPath, ["--import", "tsx", RECORDING_MAIN, "worker"], {
    env: { ...process.env, FORGE_WORKER_PORT: "0", ...env },
    stdio: ["ignore", "ignore", "inherit"],
  });
  return { child, exited: new Promise((resolve) => child.once("exit", () => resolve())) };
}
const log = (message: string) => console.log(`${new Date().toISOString()} ${message}`);

async function main(): Promise<number> {
  const server = await startPrivatePostgres();
  const url = `${server.url}?schema=chaos`;
  const file = join(mkdtempSync(join(tmpdir(), "forge-chaos-")), "executions.log");
  writeFileSync(file, "");
  // The producer is an engine of its own in this process (no worker): it only creates runs.
  const db = await Db.open({ url });
  const forge = await Forge.start({
    db,
    clock: systemClock,
    log: pino({ level: "silent" }),
    leaseMs: 2000,
    tickLimit: 100,
    tickIntervalMs: 100,
    workerEnabled: false,
    registry: recordingRegistry(file),
  });
  const env = { DATABASE_URL: url, FORGE_TEST_RECORD_FILE: file, FORGE_LEASE_MS: "2000", FORGE_TICK_INTERVAL_MS: "100", LOG_LEVEL: "warn" };
  const workers: WorkerProcess[] = [];
  const start = () => workers.push(startWorker(env));
  for (let i = 0; i < WORKERS; i++) start();

  const deadline = Date.now() + MINUTES * 60_000;
  let created = 0;
  let createFailures = 0;
  let kills = 0;
  let restarts = 0;
  const restartEvery = RESTARTS > 0 ? (MINUTES * 60_000) / (RESTARTS + 1) : Number.POSITIVE_INFINITY;
  let nextRestart = Date.now() + restartEvery;
  let nextKill = Date.now() + KILL_EVERY_MS * Math.random() * 2;
  log(`chaos: ${WORKERS} workers, a kill every ~${KILL_EVERY_MS} ms, ${RESTARTS} restarts, ${MINUTES} min, ${RUNS_PER_SECOND} runs/s`);
  while (Date.now() < deadline) {
    try {
      await forge.createRuns(Array.from({ length: Math.max(1, Math.round(RUNS_PER_SECOND / 10)) }, () => RUN));
      created += Math.max(1, Math.round(RUNS_PER_SECOND / 10));
    } catch (error) {
      // The server is restarting: nothing was acknowledged, so nothing counts. Anything else is a bug.
      if (!isDatabaseUnavailable(error)) throw error;
      createFailures++;
    }
    if (Date.now() >= nextKill) {
      const victim = workers.splice(Math.floor(Math.random() * workers.length), 1)[0] as WorkerProcess;
      victim.child.kill("SIGKILL");
      await victim.exited;
      kills++;
      start();
      nextKill = Date.now() + KILL_EVERY_MS * Math.random() * 2;
    }
    if (Date.now() >= nextRestart && restarts < RESTARTS) {
      log("restarting PostgreSQL");
      await server.restart();
      restarts++;
      nextRestart += restartEvery;
    }
    await sleep(100);
  }
  log(
    `created ${created} runs (${createFailures} batches refused during restarts), ${kills} workers killed, ${restarts} restarts; draining`,
  );
  const drainDeadline = Date.now() + 120_000;
  for (;;) {
    const left = await db.read.run.count({ where: { status: { notIn: ["SUCCEEDED", "FAILED", "CANCELLED"] } } });
    if (left === 0 || Date.now() > drainDeadline) break;
    await sleep(500);
  }
  for (const w of workers) w.child.kill("SIGTERM");
  await Promise.all(workers.map((w) => w.exited));

  const failures = await checkInvariants(db, file, created);
  await forge.stop();
  await db.close();
  server.stop();
  return failures;
}

async function checkInvariants(db: Db, file: string, created: number): Promise<number> {
  const read = db.read;
  const count = (rows: Array<{ n: bigint | number }>) => Number(rows[0]?.n ?? 0);
  const q = (sql: string) => read.$queryRawUnsafe<Array<{ n: bigint | number }>>(sql).then(count);
  const executions = readExecutions(readFileSync(file, "utf8"));
  const executedSteps = new Set(executions.map((e) => `${e.runId}/${e.stepId}`));
  const runs = await read.run.count();
  const checks: Array<[string, number, number]> = [
    // [invariant, what was found, what it must be]
    ["every acknowledged run is stored", runs, created],
    ["every run SUCCEEDED (none stuck, none failed)", await read.run.count({ where: { status: "SUCCEEDED" } }), runs],
    ["no lease left behind", await read.run.count({ where: { leaseOwner: { not: null } } }), 0],
    ["no run still due", await read.run.count({ where: { wakeAt: { not: null } } }), 0],
    [
      "runs whose events are not exactly seq 1..n",
      await q(`SELECT count(*) AS n FROM (SELECT r.id FROM runs r JOIN events e ON e.run_id = r.id
          GROUP BY r.id, r.seq HAVING count(*) <> r.seq OR min(e.seq) <> 1 OR max(e.seq) <> r.seq) x`),
      0,
    ],
    [
      "steps whose step_succeeded is not written exactly once",
      await q(`SELECT count(*) AS n FROM (SELECT 1 FROM steps s LEFT JOIN events e ON e.run_id = s.run_id AND e.step_id = s.id
          AND e.type = 'step_succeeded' GROUP BY s.run_id, s.id HAVING count(e.id) <> 1) x`),
      0,
    ],
    [
      "runs without exactly one run_created, run_started and run_succeeded",
      await q(`SELECT count(*) AS n FROM (SELECT r.id FROM runs r LEFT JOIN events e ON e.run_id = r.id
          GROUP BY r.id HAVING count(*) FILTER (WHERE e.type = 'run_created') <> 1 OR count(*) FILTER (WHERE e.type = 'run_started') <> 1
            OR count(*) FILTER (WHERE e.type = 'run_succeeded') <> 1) x`),
      0,
    ],
    [
      "events whose global order disagrees with their run's order",
      await q(`SELECT count(*) AS n FROM (SELECT id, run_id, seq, lag(seq) OVER (PARTITION BY run_id ORDER BY id) AS before FROM events) x
          WHERE before IS NOT NULL AND before >= seq`),
      0,
    ],
    ["steps that never executed", (await read.step.count()) - executedSteps.size, 0],
  ];
  let failures = 0;
  for (const [name, found, want] of checks) {
    const ok = found === want;
    if (!ok) failures++;
    console.log(`${ok ? "ok  " : "FAIL"} ${name}: ${found}${ok ? "" : ` (want ${want})`}`);
  }
  // Not an invariant but what the kills cost: work a dead worker did and never committed runs again.
  console.log(
    `info executions: ${executions.length} for ${executedSteps.size} steps (${executions.length - executedSteps.size} repeated after kills)`,
  );
  console.log(failures === 0 ? "chaos: every invariant holds" : `chaos: ${failures} invariant(s) broken`);
  return failures;
}

main().then(
  (failures) => process.exit(failures === 0 ? 0 : 1),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
