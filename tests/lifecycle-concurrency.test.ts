import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { systemClock, TestClock } from "../src/clock.ts";
import type { CreateRunInput } from "../src/domain/run-input.ts";
import { defaultRegistry } from "../src/engine/steps/index.ts";
import { AllEventsSubscription } from "./support/documents.ts";
import { dialect, freshDbUrl, runInput, startForge, type TestForge } from "./support/forge.ts";
import { RECORDING_MAIN, startProcess } from "./support/processes.ts";
import { readExecutions, recordingRegistry } from "./support/recording-steps.ts";
import { waitFor } from "./support/wait.ts";
import { subscribe, wsClient } from "./support/ws.ts";

/**
 * The lifecycle operations against work in motion: bulk actions racing a worker, pauses with
 * several worker processes, pruning beside a subscriber of every event, and the pruner's
 * lease. What each test counts is what its name claims, under load.
 */

const DAY = 24 * 60 * 60 * 1000;

/** Every run's events are 1..seq without a gap or a repeat, and each run has at most one terminal event, its last. */
async function expectHistoriesWhole(forge: TestForge): Promise<void> {
  const db = forge.app.forge.db.read;
  const rows = await db.$queryRawUnsafe<
    Array<{ runId: string; n: number | bigint; min: number; max: number; seq: number; terminals: number | bigint }>
  >(
    `SELECT e.run_id AS "runId", count(*) AS n, min(e.seq) AS min, max(e.seq) AS max, r.seq,
       sum(CASE WHEN e.type IN ('run_succeeded', 'run_failed', 'run_cancelled') THEN 1 ELSE 0 END) AS terminals
     FROM events e JOIN runs r ON r.id = e.run_id GROUP BY e.run_id, r.seq`,
  );
  for (const r of rows) {
    expect({ run: r.runId, n: Number(r.n), min: Number(r.min), max: Number(r.max) }).toEqual({
      run: r.runId,
      n: r.seq,
      min: 1,
      max: r.seq,
    });
    expect({ run: r.runId, terminals: Number(r.terminals) <= 1 }).toEqual({ run: r.runId, terminals: true });
  }
  const lastIsTerminal = await db.$queryRawUnsafe<Array<{ id: string }>>(
    `SELECT r.id FROM runs r JOIN events e ON e.run_id = r.id AND e.seq = r.seq
     WHERE r.status IN ('SUCCEEDED', 'FAILED', 'CANCELLED') AND e.type NOT IN ('run_succeeded', 'run_failed', 'run_cancelled')`,
  );
  expect(lastIsTerminal).toEqual([]);
}

describe("bulk actions racing a worker", () => {
  it("cancelRuns while a worker advances the same runs: every run ends in exactly one state, none cancelled twice, each history whole", async () => {
    // Runs held inside the worker's ticks (leased, started, a step in flight) while the cancellation goes through them.
    let open = () => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const registry = defaultRegistry();
    registry.register({ type: "gate", run: () => gate.then(() => null) });
    const forge = await startForge({ clock: systemClock, registry, env: { FORGE_WORKER_ENABLED: "true", FORGE_TICK_INTERVAL_MS: "20" } });
    const db = forge.app.forge.db.read;
    await forge.app.forge.createRuns(Array.from({ length: 100 }, () => runInput({ jobType: "race" })));
    await waitFor(async () => (await db.run.count({ where: { status: "SUCCEEDED" } })) === 100, "the quick runs to finish", 30_000);
    const graph = {
      steps: { a: { type: "sleep", params: { ms: 20 } }, g: { type: "gate", deps: ["a"] }, b: { type: "noop", deps: ["g"] } },
    };
    for (let i = 0; i < 600; i += 200)
      await forge.app.forge.createRuns(Array.from({ length: 200 }, () => runInput({ jobType: "race", graph })));
    // Started runs whose gate step is in flight in a tick right now, holding their leases.
    await waitFor(
      async () => (await db.run.count({ where: { status: "RUNNING", leaseOwner: { not: null } } })) >= 100,
      "runs held in ticks",
      30_000,
    );
    const result = await forge.app.forge.lifecycle.cancelMatching({ jobType: "race" }, false);
    open();
    expect(result).toMatchObject({ matched: 700, affected: 600 });
    await waitFor(
      async () => (await db.run.count({ where: { status: { in: ["PENDING", "RUNNING"] } } })) === 0,
      "every run to finish",
      60_000,
    );
    await waitFor(() => forge.app.forge.scheduler.runsInFlight === 0, "the ticks to end", 30_000);
    expect(await db.run.count({ where: { status: "CANCELLED" } })).toBe(600);
    expect(await db.run.count({ where: { status: "SUCCEEDED" } })).toBe(100);
    expect(await db.event.count({ where: { type: "run_cancelled" } })).toBe(600);
    expect(await db.event.count({ where: { type: "run_succeeded" } })).toBe(100);
    await expectHistoriesWhole(forge);
    // It did race the worker: runs cancelled after they had started, and the ticks that held
    // them found their leases taken at commit and wrote nothing for them.
    const startedThenCancelled = await db.$queryRawUnsafe<Array<{ n: number | bigint }>>(
      `SELECT count(DISTINCT e.run_id) AS n FROM events e JOIN runs r ON r.id = e.run_id WHERE r.status = 'CANCELLED' AND e.type = 'run_started'`,
    );
    expect(Number(startedThenCancelled[0]?.n)).toBeGreaterThanOrEqual(100);
    const lost = (await forge.app.forge.resources.metrics.registry.getSingleMetric("forge_lease_lost_total")?.get())?.values[0]?.value ?? 0;
    expect(lost).toBeGreaterThanOrEqual(100);
    // A second pass finds nothing left to cancel.
    expect((await forge.app.forge.lifecycle.cancelMatching({ jobType: "race" }, false)).affected).toBe(0);
  }, 120_000);

  it("two rerunRuns at once over the same failed runs make one re-run of each, not two", async () => {
    const forge = await startForge();
    const failing = { steps: { x: { type: "fail", retry: { maxAttempts: 1 } } } };
    for (let i = 0; i < 3; i++)
      await forge.app.forge.createRuns(Array.from({ length: 200 }, () => runInput({ lane: "twice", graph: failing })));
    while ((await forge.app.forge.tickOnce(500)).ticked > 0) {}
    const [a, b] = await Promise.all([
      forge.app.forge.lifecycle.rerunMatching({ lane: "twice", status: ["FAILED"] }, false),
      forge.app.forge.lifecycle.rerunMatching({ lane: "twice", status: ["FAILED"] }, false),
    ]);
    expect(a.affected + b.affected).toBe(600);
    const perOriginal = await forge.app.forge.db.read.$queryRawUnsafe<Array<{ n: number | bigint }>>(
      "SELECT count(*) AS n FROM runs WHERE rerun_of IS NOT NULL GROUP BY rerun_of",
    );
    expect(perOriginal).toHaveLength(600);
    expect(perOriginal.every((p) => Number(p.n) === 1)).toBe(true);
  });
});

describe("pruning beside a subscriber of every event", () => {
  it("prunes while runs are created, finished and followed: the subscriber gets every surviving event once, in order, and nothing twice", async () => {
    const clock = new TestClock(new Date("2026-06-01T00:00:00.000Z"));
    const forge = await startForge({ clock });
    const url = await forge.app.start();
    const sub = subscribe(wsClient(url), AllEventsSubscription, { afterId: "0" });
    const graph = { steps: { a: { type: "noop" }, b: { type: "noop", deps: ["a"] } } };
    // Rounds of: create 100 runs, finish them, prune what finished more than two rounds ago.
    for (let round = 0; round < 20; round++) {
      await forge.app.forge.createRuns(Array.from({ length: 100 }, () => runInput({ graph })));
      const ticking = (async () => {
        while ((await forge.app.forge.tickOnce(50)).ticked > 0) {}
      })();
      const pruning = forge.app.forge.lifecycle.prune(new Date(clock.now().getTime() - 2 * 60_000), null, false);
      await Promise.all([ticking, pruning]);
      clock.advance(60_000);
    }
    const last = await forge.app.forge.db.read.event.findFirst({ orderBy: { id: "desc" } });
    await waitFor(() => sub.items.some((i) => Number(i.events.id) === Number(last?.id)), "the subscriber to reach the last event", 30_000);
    sub.close();
    const ids = sub.items.map((i) => Number(i.events.id));
    // In order, no repeat.
    for (let i = 1; i < ids.length; i++) expect(ids[i] as number).toBeGreaterThan(ids[i - 1] as number);
    // No gap: every event still stored was delivered (those pruned may or may not have been).
    const stored = await forge.app.forge.db.read.event.findMany({ select: { id: true }, orderBy: { id: "asc" } });
    const delivered = new Set(ids);
    expect(stored.filter((e) => !delivered.has(Number(e.id)))).toEqual([]);
    // Something was pruned while it followed, or the test proves nothing.
    expect(stored.length).toBeLessThan(ids.length);
    expect(await forge.app.forge.db.read.run.count()).toBeLessThan(2000);
    expect(sub.errors).toEqual([]);
  }, 60_000);

  it("a subscriber resuming after a cursor whose events were all pruned goes on with the next event committed", async () => {
    const clock = new TestClock(new Date("2026-06-01T00:00:00.000Z"));
    const forge = await startForge({ clock });
    const url = await forge.app.start();
    await forge.app.forge.createRun(runInput());
    await forge.app.forge.tickOnce(10);
    const cursor = Number((await forge.app.forge.db.read.event.findFirst({ orderBy: { id: "desc" } }))?.id);
    await forge.app.forge.createRuns(Array.from({ length: 50 }, () => runInput()));
    while ((await forge.app.forge.tickOnce(100)).ticked > 0) {}
    clock.advance(60_000);
    expect((await forge.app.forge.lifecycle.prune(clock.now(), null, false)).runs).toBe(51);
    const next = await forge.app.forge.createRun(runInput());
    const sub = subscribe(wsClient(url), AllEventsSubscription, { afterId: String(cursor) });
    await waitFor(() => sub.items.length >= 1, "the next event");
    expect(sub.items[0]?.events).toMatchObject({ runId: next.id, seq: 1, type: "run_created" });
    sub.close();
  });
});

describe("background retention", () => {
  /** Runs finished `daysAgo` days before `now` (created and ticked with the clock set back). */
  async function finishedRuns(forge: TestForge, clock: TestClock, now: Date, daysAgo: number, inputs: CreateRunInput[]): Promise<string[]> {
    clock.advance(now.getTime() - daysAgo * DAY - clock.now().getTime());
    const runs = await forge.app.forge.createRuns(inputs);
    while ((await forge.app.forge.tickOnce(500)).ticked > 0) {}
    clock.advance(now.getTime() - clock.now().getTime());
    return runs.map((r) => r.id);
  }

  it('prunes by each job type\'s retentionDays, the "*" entry, and FORGE_RETENTION_DAYS, and keeps what 0 keeps', async () => {
    const dir = mkdtempSync(join(tmpdir(), "forge-retention-"));
    const policyFile = join(dir, "forge.policy.json");
    writeFileSync(
      policyFile,
      JSON.stringify({ short: { retentionDays: 1 }, forever: { retentionDays: 0 }, plain: {}, "*": { retentionDays: 30 } }),
    );
    const clock = new TestClock(new Date("2026-06-01T00:00:00.000Z"));
    const now = clock.now();
    const forge = await startForge({ clock, env: { FORGE_POLICY_FILE: policyFile, FORGE_RETENTION_DAYS: "7" } });
    const at = (days: number, jobType: string) => finishedRuns(forge, clock, now, days, [runInput({ jobType })]);
    const expected: Record<string, boolean> = {};
    const mark = async (days: number, jobType: string, pruned: boolean) => {
      for (const id of await at(days, jobType)) expected[id] = pruned;
    };
    await mark(2, "short", true); // its own 1 day
    await mark(0.5, "short", false);
    await mark(400, "forever", false); // 0: kept forever
    await mark(8, "plain", true); // named without retentionDays: FORGE_RETENTION_DAYS (7)
    await mark(6, "plain", false);
    await mark(31, "unnamed", true); // the "*" entry's 30
    await mark(8, "unnamed", false);
    const open = await forge.app.forge.createRun(runInput({ jobType: "short" })); // not finished: never pruned
    const pruner = new (await import("../src/engine/pruner.ts")).Pruner({
      resources: forge.app.forge.resources,
      lifecycle: forge.app.forge.lifecycle,
      policies: forge.app.forge.policies,
      audit: forge.app.forge.resources.audit,
    });
    expect(await pruner.runOnce()).toEqual({ runs: 3, events: 15, artifacts: 0 });
    for (const [id, pruned] of Object.entries(expected)) {
      expect({ id, gone: (await forge.app.forge.getRun(id)) === null }).toEqual({ id, gone: pruned });
    }
    expect(await forge.app.forge.getRun(open.id)).not.toBeNull();
  });

  it.runIf(dialect === "postgres")(
    "two worker processes with FORGE_RETENTION_DAYS prune the old runs in the background, each counted once, and keep the recent ones",
    async () => {
      const dbUrl = freshDbUrl();
      const clock = new TestClock(new Date());
      const now = clock.now();
      const file = join(mkdtempSync(join(tmpdir(), "forge-record-")), "executions.log");
      writeFileSync(file, "");
      const forge = await startForge({ dbUrl, clock, registry: recordingRegistry(file) });
      const old: string[] = [];
      for (let i = 0; i < 6; i++)
        old.push(
          ...(await finishedRuns(
            forge,
            clock,
            now,
            3,
            Array.from({ length: 500 }, () => runInput()),
          )),
        );
      const recent = await finishedRuns(
        forge,
        clock,
        now,
        0,
        Array.from({ length: 100 }, () => runInput()),
      );
      const env = { DATABASE_URL: dbUrl, FORGE_TEST_RECORD_FILE: file, FORGE_RETENTION_DAYS: "1", FORGE_PRUNE_INTERVAL_MS: "1000" };
      const workers = [startProcess(RECORDING_MAIN, ["worker"], env), startProcess(RECORDING_MAIN, ["worker"], env)];
      await waitFor(async () => (await forge.app.forge.db.read.run.count()) === recent.length, "the old runs to be pruned", 60_000);
      // Let both go round a few more intervals: nothing more to prune, nobody prunes twice.
      await new Promise((resolve) => setTimeout(resolve, 2500));
      const pruned = workers.flatMap((w) =>
        w
          .output()
          .split("\n")
          .filter((line) => line.includes("retention pass pruned"))
          .map((line) => (JSON.parse(line) as { pruned: { runs: number } }).pruned.runs),
      );
      expect(pruned.reduce((a, b) => a + b, 0)).toBe(old.length);
      expect(await forge.app.forge.db.read.run.count()).toBe(recent.length);
    },
    120_000,
  );

  it.runIf(dialect === "postgres")("while one process holds the pruner's lease, another's pass does nothing", async () => {
    const dbUrl = freshDbUrl();
    const clock = new TestClock(new Date());
    const now = clock.now();
    const a = await startForge({ dbUrl, clock, env: { FORGE_RETENTION_DAYS: "1" } });
    const b = await startForge({ dbUrl, clock, env: { FORGE_RETENTION_DAYS: "1" } });
    for (let i = 0; i < 10; i++)
      await finishedRuns(
        a,
        clock,
        now,
        3,
        Array.from({ length: 500 }, () => runInput()),
      );
    const { Pruner } = await import("../src/engine/pruner.ts");
    const prunerOf = (f: TestForge) =>
      new Pruner({
        resources: f.app.forge.resources,
        lifecycle: f.app.forge.lifecycle,
        policies: f.app.forge.policies,
        audit: f.app.forge.resources.audit,
      });
    const first = prunerOf(a);
    const second = prunerOf(b);
    const passA = first.runOnce();
    await waitFor(async () => (await a.app.forge.db.read.systemLease.findFirst())?.owner === first.owner, "A to hold the lease");
    // While A's pass goes on (ten batches), B's finds the lease taken and prunes nothing.
    const passB = await second.runOnce();
    const doneA = await passA;
    expect(passB).toBeNull();
    expect(doneA?.runs).toBe(5000);
    expect(await a.app.forge.db.read.run.count()).toBe(0);
    // Released at the end: B's next pass takes the lease (and finds nothing left).
    expect(await second.runOnce()).toEqual({ runs: 0, events: 0, artifacts: 0 });
  });
});

describe.runIf(dialect === "postgres")("pauses with several worker processes", () => {
  it("pause a lane under load: its runs stop being claimed by every worker; resume: each of its steps runs exactly once", async () => {
    const dbUrl = freshDbUrl();
    const file = join(mkdtempSync(join(tmpdir(), "forge-record-")), "executions.log");
    writeFileSync(file, "");
    const forge = await startForge({ dbUrl, clock: systemClock, registry: recordingRegistry(file) });
    const record = (lane: string): CreateRunInput => ({
      mode: "LIVE",
      jobType: "paused",
      requestedBy: "tests",
      lane,
      graph: { steps: { a: { type: "record", params: { sleepMs: 2 } }, b: { type: "record", deps: ["a"], params: { sleepMs: 2 } } } },
    });
    const env = { DATABASE_URL: dbUrl, FORGE_TEST_RECORD_FILE: file, FORGE_TICK_INTERVAL_MS: "50" };
    const workers = [0, 1, 2].map(() => startProcess(RECORDING_MAIN, ["worker"], env));
    for (const w of workers) await waitFor(() => w.output().includes("forge worker running"), "a worker to start", 30_000);
    for (let i = 0; i < 6; i++) await forge.app.forge.createRuns(Array.from({ length: 250 }, () => record(i % 3 === 0 ? "other" : "held")));
    await waitFor(() => readExecutions(readFileSync(file, "utf8")).length > 100, "the workers to be busy");
    await forge.app.forge.lifecycle.pause("held", null, "load test");
    const db = forge.app.forge.db.read;
    // Steps of runs claimed before the pause finish; then the lane stays still while the other lane drains.
    await waitFor(
      async () => (await db.run.count({ where: { lane: "other", status: "SUCCEEDED" } })) === 500,
      "the other lane to drain",
      60_000,
    );
    await waitFor(
      async () => (await db.run.count({ where: { lane: "held", leaseOwner: { not: null } } })) === 0,
      "claims of the held lane to end",
      30_000,
    );
    const heldRuns = new Set((await db.run.findMany({ where: { lane: "held" }, select: { id: true } })).map((r) => r.id));
    const heldExecutions = () => readExecutions(readFileSync(file, "utf8")).filter((e) => heldRuns.has(e.runId)).length;
    const still = heldExecutions();
    const unfinished = await db.run.count({ where: { lane: "held", status: { not: "SUCCEEDED" } } });
    expect(unfinished).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(heldExecutions()).toBe(still);
    const waiting = await forge.gql(`{ runs(lane: "held", status: PENDING, first: 5) { edges { node { waiting { reason } } } } }`);
    for (const edge of waiting.data.runs.edges) expect(edge.node.waiting.reason).toBe("PAUSED");
    expect(await forge.app.forge.lifecycle.resume("held", null)).toBe(true);
    await waitFor(async () => (await db.run.count({ where: { status: "SUCCEEDED" } })) === 1500, "every run to succeed", 90_000);
    const executions = readExecutions(readFileSync(file, "utf8"));
    const perStep = new Map<string, number>();
    for (const e of executions) perStep.set(`${e.runId}/${e.stepId}`, (perStep.get(`${e.runId}/${e.stepId}`) ?? 0) + 1);
    expect(perStep.size).toBe(3000);
    expect([...perStep.values()].filter((n) => n !== 1)).toEqual([]);
    // Every worker took part.
    expect(new Set(executions.map((e) => e.pid)).size).toBe(3);
    await expectHistoriesWhole(forge);
  }, 180_000);
});
