import { describe, expect, it, onTestFinished } from "vitest";
import { TestClock } from "../src/clock.ts";
import { ENGINE_DEFAULTS } from "../src/config.ts";
import type { TickResult } from "../src/engine/commit.ts";
import type { Scheduler } from "../src/engine/scheduler.ts";
import { noop } from "../src/engine/steps/noop.ts";
import { StepRegistry } from "../src/engine/steps/registry.ts";
import { Worker } from "../src/engine/worker.ts";
import { Db } from "../src/store/db.ts";
import { migrate, migrationFiles } from "../src/store/migrate.ts";
import { CreateRun, GetRun, WorkerStatusQuery } from "./support/documents.ts";
import { freshDbUrl, runInput, startForge } from "./support/forge.ts";
import { MAIN, startProcess } from "./support/processes.ts";
import { signal, waitFor } from "./support/wait.ts";

/** A step type that waits until the test lets it finish. */
function gate() {
  const opened = signal();
  const reached = signal();
  return {
    handler: {
      type: "gate",
      run: async () => {
        reached.fire();
        await opened.fired;
        return { passed: true };
      },
    },
    reached: reached.fired,
    open: opened.fire,
  };
}

describe("worker", () => {
  it("runs every created run to the end, registers itself and records its ticks", async () => {
    const clock = new TestClock();
    const dbUrl = freshDbUrl();
    const forge = await startForge({ clock, dbUrl, env: { FORGE_WORKER_ENABLED: "true" } });
    const worker = forge.app.forge.worker as Worker;
    const registered = await forge.app.forge.db.read.worker.findUniqueOrThrow({ where: { id: worker.id } });
    expect(registered).toMatchObject({ ticks: 0, lastTickAt: null, stoppedAt: null, startedAt: clock.now() });
    for (let i = 0; i < 30; i++) await forge.gql(CreateRun, { input: runInput() });
    await waitFor(async () => (await forge.app.forge.db.read.run.count({ where: { status: "SUCCEEDED" } })) === 30, "all runs");
    const status = (await forge.gql(WorkerStatusQuery)).data?.workerStatus;
    expect(status).toMatchObject({ enabled: true, running: true, workerId: worker.id, queueDepth: 0, oldestQueuedAt: null });
    expect(status?.ticks).toBe(worker.ticks);
    expect(worker.ticks).toBeGreaterThan(0);
    expect(status?.lastTickAt).toBe(clock.now().toISOString());

    // The heartbeat writes the ticks to its row, where a process without a worker reads them:
    // exactly the count the worker had when it beat (it beats before it ticks again).
    await waitFor(() => clock.sleeping > 0, "the worker to go idle");
    const counted = worker.ticks;
    const lastTickAt = worker.lastTickAt;
    clock.advance(ENGINE_DEFAULTS.heartbeatMs);
    await waitFor(
      async () =>
        (await forge.app.forge.db.read.worker.findUniqueOrThrow({ where: { id: worker.id } })).heartbeatAt.getTime() ===
        clock.now().getTime(),
      "the heartbeat to record the ticks",
    );
    const row = await forge.app.forge.db.read.worker.findUniqueOrThrow({ where: { id: worker.id } });
    expect(row).toMatchObject({ ticks: counted, lastTickAt, stoppedAt: null });
    const observer = await startForge({ clock, dbUrl });
    const seen = (await observer.gql(WorkerStatusQuery)).data?.workerStatus;
    expect(seen).toMatchObject({ enabled: false, running: true, workerId: worker.id, ticks: row.ticks });
  });

  it("stop() lets the tick in progress finish and commit, releases its leases, and marks the worker stopped", async () => {
    const g = gate();
    const forge = await startForge({ env: { FORGE_WORKER_ENABLED: "true" }, registry: new StepRegistry([noop, g.handler]) });
    const id = (await forge.gql(CreateRun, { input: runInput({ graph: { steps: { wait: { type: "gate" } } } }) })).data?.createRun
      .id as string;
    await g.reached;
    const leased = (await forge.gql(GetRun, { id })).data?.run?.lease;
    expect(leased?.owner).toBe(forge.app.forge.worker?.id);

    const stopping = forge.app.forge.worker?.stop();
    g.open();
    await stopping;
    const run = (await forge.gql(GetRun, { id })).data?.run;
    expect(run?.status).toBe("SUCCEEDED");
    expect(run?.steps[0]?.output).toEqual({ passed: true });
    expect(run?.lease).toBeNull();
    const row = await forge.app.forge.db.read.worker.findFirstOrThrow();
    expect(row.stoppedAt).not.toBeNull();
    expect(row.ticks).toBeGreaterThan(0);
    expect(forge.app.forge.worker?.running).toBe(false);
  });
});

describe("worker loop", () => {
  /**
   * The loop around a scheduler whose ticks the test releases one at a time, each finding
   * nothing to do. The clock never moves, so a loop that went to sleep would stay asleep.
   */
  async function loopWithHeldTicks() {
    const forge = await startForge();
    const releases: Array<() => void> = [];
    const scheduler = {
      tickOnce: () =>
        new Promise<TickResult>((resolve) => {
          releases.push(() => resolve({ ticked: 0, succeeded: 0, failed: 0, skippedLeased: 0, runIds: [] }));
        }),
    } as unknown as Scheduler;
    const resources = forge.app.forge.resources;
    const worker = new Worker({
      resources: { ...resources, tunables: { ...resources.tunables, tickLimit: 10, tickIntervalMs: 3_600_000 } },
      scheduler,
    });
    await worker.start();
    const release = async (n: number) => {
      await waitFor(() => releases.length >= n, `tick ${n}`);
      releases[n - 1]?.();
    };
    return { forge, worker, release, ticksStarted: () => releases.length };
  }

  it("a stop that arrives during a tick that finds nothing ends the loop instead of sleeping", async () => {
    const { worker, release } = await loopWithHeldTicks();
    const stopping = worker.stop();
    await release(1);
    await stopping;
    expect(worker.running).toBe(false);
  });

  it("a run created during a tick that finds nothing is looked for at once, not after the backoff", async () => {
    const { forge, worker, release, ticksStarted } = await loopWithHeldTicks();
    await waitFor(() => ticksStarted() === 1, "the first tick");
    await forge.gql(CreateRun, { input: runInput() });
    await forge.app.forge.feed.flush();
    await release(1);
    await waitFor(() => ticksStarted() === 2, "a second tick without the clock moving");
    const stopping = worker.stop();
    await release(2);
    await stopping;
  });
});

describe("the forge process", () => {
  const run = (args: string[], env: Record<string, string>) => startProcess(MAIN, args, env);

  it("stops at startup with one clear line naming an invalid variable", async () => {
    const p = run([], { FORGE_PORT: "eighty", DATABASE_URL: freshDbUrl() });
    expect(await p.exited).toBe(1);
    expect(p.output().trim()).toMatch(/^invalid FORGE_PORT: /);
    expect(p.output().trim().split("\n")).toHaveLength(1);
  });

  it("serves, migrates on first start, and on SIGTERM stops its worker and exits 0", async () => {
    const p = run([], { FORGE_PORT: "0", FORGE_WORKER_ENABLED: "true", DATABASE_URL: freshDbUrl() });
    await waitFor(() => p.output().includes("forge serving"), "the server to start", 20_000);
    expect(p.output()).toContain("migrations applied");
    p.child.kill("SIGTERM");
    expect(await p.exited).toBe(0);
    expect(p.output()).toContain("worker stopped");
    expect(p.output()).toContain("forge stopped");
  });

  it("four processes starting at once on a new database all migrate it and exit 0", async () => {
    const dbUrl = freshDbUrl();
    const procs = Array.from({ length: 4 }, () => run(["migrate"], { DATABASE_URL: dbUrl }));
    expect(await Promise.all(procs.map((p) => p.exited))).toEqual([0, 0, 0, 0]);
  });

  it("npm run migrate applies migrations and exits", async () => {
    const dbUrl = freshDbUrl();
    const p = run(["migrate"], { DATABASE_URL: dbUrl });
    expect(await p.exited).toBe(0);
    expect(p.output()).toContain("migrations up to date");
    // Every migration file is recorded as applied, and a second run finds nothing left to do.
    const db = await Db.open({ url: dbUrl });
    onTestFinished(() => db.close());
    const names = (await db.read.$queryRawUnsafe<Array<{ name: string }>>("SELECT name FROM forge_migrations ORDER BY name")).map(
      (r) => r.name,
    );
    expect(names).toEqual(migrationFiles(db.dialect).map((f) => f.name));
    expect(await migrate(db)).toEqual({ applied: [], alreadyApplied: names });
    // And what they record was done: every table of the model is there, with the last migration's columns and indexes.
    const tables = await db.read.$queryRawUnsafe<Array<{ name: string }>>(
      db.dialect === "sqlite"
        ? "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        : "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name",
    );
    expect(tables.map((t) => t.name)).toEqual([
      "artifacts",
      "events",
      "forge_migrations",
      "pauses",
      "runs",
      "steps",
      "system_leases",
      "workers",
    ]);
    await expect(db.read.$queryRawUnsafe("SELECT commit_failures FROM runs WHERE id = 'none'")).resolves.toEqual([]);
  });
});
