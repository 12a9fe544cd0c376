import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { systemClock } from "../src/clock.ts";
import type { CreateRunInput } from "../src/domain/run-input.ts";
import { RunEventsSubscription } from "./support/documents.ts";
import { dialect, freshDbUrl, startForge, type TestForge } from "./support/forge.ts";
import { type ForgeProcess, RECORDING_MAIN, startProcess } from "./support/processes.ts";
import { readExecutions, recordingRegistry } from "./support/recording-steps.ts";
import { waitFor } from "./support/wait.ts";
import { subscribe, wsClient } from "./support/ws.ts";

/**
 * Real child processes on one PostgreSQL database: several workers sharing the queue, a
 * worker killed mid-tick, and an API process serving what a worker process committed.
 */
function recordFile(): string {
  const file = join(mkdtempSync(join(tmpdir(), "forge-record-")), "executions.log");
  writeFileSync(file, "");
  return file;
}

/** A run of three `record` steps in a chain. */
function recordRun(sleepMs = 0): CreateRunInput {
  const params = sleepMs ? { sleepMs } : {};
  return {
    mode: "LIVE",
    jobType: "multi",
    requestedBy: "tests",
    graph: {
      steps: { a: { type: "record", params }, b: { type: "record", deps: ["a"], params }, c: { type: "record", deps: ["b"], params } },
    },
  };
}

function startWorkers(n: number, dbUrl: string, file: string, env: Record<string, string> = {}): ForgeProcess[] {
  return Array.from({ length: n }, () =>
    startProcess(RECORDING_MAIN, ["worker"], { DATABASE_URL: dbUrl, FORGE_TEST_RECORD_FILE: file, FORGE_TICK_INTERVAL_MS: "100", ...env }),
  );
}

async function createMany(forge: TestForge, runs: number, input: CreateRunInput): Promise<void> {
  for (let done = 0; done < runs; done += 250) {
    await forge.app.forge.createRuns(Array.from({ length: Math.min(250, runs - done) }, () => input));
  }
}

/** Every run SUCCEEDED, each run's events numbered 1..seq without a gap, and one step_succeeded per step. */
async function expectAllSucceededOnce(forge: TestForge, runs: number, stepsPerRun: number): Promise<void> {
  const db = forge.app.forge.db.read;
  expect(await db.run.count({ where: { status: "SUCCEEDED" } })).toBe(runs);
  const seqs = await db.$queryRawUnsafe<Array<{ runId: string; n: bigint; min: number; max: number; seq: number }>>(
    `SELECT e.run_id AS "runId", count(*) AS n, min(e.seq) AS min, max(e.seq) AS max, r.seq
     FROM events e JOIN runs r ON r.id = e.run_id GROUP BY e.run_id, r.seq`,
  );
  expect(seqs).toHaveLength(runs);
  for (const s of seqs) expect([Number(s.n), s.min, s.max]).toEqual([s.seq, 1, s.seq]);
  const succeeded = await db.$queryRawUnsafe<Array<{ n: bigint }>>(
    "SELECT count(*) AS n FROM events WHERE type = 'step_succeeded' GROUP BY run_id, step_id HAVING count(*) <> 1",
  );
  expect(succeeded).toEqual([]);
  expect(await db.event.count({ where: { type: "step_succeeded" } })).toBe(runs * stepsPerRun);
}

describe.runIf(dialect === "postgres")("several processes on one PostgreSQL database", () => {
  it("four workers run 2,000 runs of three steps: every step executed exactly once, every run's seq contiguous", async () => {
    const dbUrl = freshDbUrl();
    const file = recordFile();
    const forge = await startForge({ dbUrl, clock: systemClock, registry: recordingRegistry(file) });
    const workers = startWorkers(4, dbUrl, file);
    for (const w of workers) await waitFor(() => w.output().includes("forge worker running"), "a worker to start", 30_000);

    await createMany(forge, 2000, recordRun());
    await waitFor(
      async () => (await forge.app.forge.db.read.run.count({ where: { status: "SUCCEEDED" } })) === 2000,
      "2,000 runs to succeed",
      120_000,
    );

    const executions = readExecutions(readFileSync(file, "utf8"));
    expect(executions).toHaveLength(6000);
    expect(new Set(executions.map((e) => `${e.runId}/${e.stepId}`)).size).toBe(6000);
    // The queue was shared, not drained by one process.
    const byWorker = new Set(executions.map((e) => e.pid));
    expect(byWorker.size).toBeGreaterThan(1);
    for (const pid of byWorker) expect(workers.map((w) => w.pid)).toContain(pid);
    await expectAllSucceededOnce(forge, 2000, 3);

    // Each registered and heartbeats in the workers table, where workerStatus reads them.
    const live = await forge.app.forge.db.read.worker.count({ where: { stoppedAt: null } });
    expect(live).toBe(4);
    for (const w of workers) w.child.kill("SIGTERM");
    expect(await Promise.all(workers.map((w) => w.exited))).toEqual([0, 0, 0, 0]);
    expect(await forge.app.forge.db.read.worker.count({ where: { stoppedAt: null } })).toBe(0);
  }, 180_000);

  it("a worker killed with SIGKILL mid-tick loses nothing: its runs finish elsewhere after the lease expires", async () => {
    const dbUrl = freshDbUrl();
    const file = recordFile();
    const forge = await startForge({ dbUrl, clock: systemClock, registry: recordingRegistry(file) });
    await createMany(forge, 100, recordRun(5));
    const env = { FORGE_LEASE_MS: "2000", FORGE_TICK_LIMIT: "20" };
    const [victim] = startWorkers(1, dbUrl, file, env) as [ForgeProcess];
    // As soon as the victim has executed a step, it is inside a tick that has not committed.
    await waitFor(() => readExecutions(readFileSync(file, "utf8")).some((e) => e.pid === victim.pid), "the victim to start a tick", 30_000);
    victim.child.kill("SIGKILL");
    expect(await victim.exited).toBe(null);
    const victimSteps = new Set(
      readExecutions(readFileSync(file, "utf8"))
        .filter((e) => e.pid === victim.pid)
        .map((e) => `${e.runId}/${e.stepId}`),
    );
    const leased = await forge.app.forge.db.read.run.count({ where: { leaseOwner: { not: null } } });
    expect(leased).toBeGreaterThan(0); // the dead worker's leases are still on its runs

    const survivors = startWorkers(2, dbUrl, file, env);
    await waitFor(
      async () => (await forge.app.forge.db.read.run.count({ where: { status: "SUCCEEDED" } })) === 100,
      "the survivors to finish every run",
      60_000,
    );
    await expectAllSucceededOnce(forge, 100, 3);
    // What the victim executed but never committed ran again on a survivor (at least once,
    // never lost), while its events were written once.
    const executions = readExecutions(readFileSync(file, "utf8"));
    const again = executions.filter((e) => e.pid !== victim.pid && victimSteps.has(`${e.runId}/${e.stepId}`));
    expect(again.length).toBeGreaterThan(0);
    // One survivor may have finished every run before the other got through its startup; a
    // process stopped before it installs its signal handlers dies of the signal (exit code null).
    for (const w of survivors) await waitFor(() => w.output().includes("forge worker running"), "both survivors to start", 30_000);
    for (const w of survivors) w.child.kill("SIGTERM");
    expect(await Promise.all(survivors.map((w) => w.exited))).toEqual([0, 0]);
  }, 120_000);

  it("an API process streams over graphql-ws the events a worker process commits", async () => {
    const dbUrl = freshDbUrl();
    const file = recordFile();
    const api = startProcess(RECORDING_MAIN, ["serve"], {
      DATABASE_URL: dbUrl,
      FORGE_TEST_RECORD_FILE: file,
      FORGE_PORT: "0",
      FORGE_WORKER_ENABLED: "false",
    });
    await waitFor(() => api.output().includes("forge serving"), "the API process to start", 30_000);
    const url = /"url":"(http:[^"]+)"/.exec(api.output())?.[1] as string;
    const [worker] = startWorkers(1, dbUrl, file) as [ForgeProcess];
    await waitFor(() => worker.output().includes("forge worker running"), "the worker to start", 30_000);

    const response = await fetch(`${url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        query: "mutation($input: CreateRunInput!) { createRun(input: $input) { id } }",
        variables: { input: recordRun() },
      }),
    });
    const id = ((await response.json()) as { data: { createRun: { id: string } } }).data.createRun.id;
    const events = subscribe(wsClient(url), RunEventsSubscription, { runId: id, afterSeq: 0 });
    await events.done;
    expect(events.items.map((i) => i.runEvents.type)).toEqual([
      "run_created",
      "run_started",
      "step_started",
      "step_succeeded",
      "step_started",
      "step_succeeded",
      "step_started",
      "step_succeeded",
      "run_succeeded",
    ]);
    expect(events.items.map((i) => i.runEvents.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // The worker process ran the steps; the API process only served them.
    expect(new Set(readExecutions(readFileSync(file, "utf8")).map((e) => e.pid))).toEqual(new Set([worker.pid]));
    api.child.kill("SIGTERM");
    worker.child.kill("SIGTERM");
    expect(await Promise.all([api.exited, worker.exited])).toEqual([0, 0]);
  }, 60_000);
});
