import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { TestClock } from "../src/clock.ts";
import type { AdminAction } from "../src/engine/audit.ts";
import { defaultRegistry } from "../src/engine/steps/index.ts";
import { markWorkerStopped, registerWorker } from "../src/store/workers.ts";
import { RunEventsSubscription } from "./support/documents.ts";
import { API, runInput, startForge } from "./support/forge.ts";
import { waitFor } from "./support/wait.ts";
import { subscribe, wsClient } from "./support/ws.ts";

/**
 * Lifecycle (API.md, "Lifecycle: re-runs, bulk actions, pauses, retention, why a run waits"):
 * each rule of the contract through the real schema, on the dialect under test.
 */

/** Step types that count what they ran, and one that fails while `broken.on`. */
function countingRegistry() {
  const ran: string[] = [];
  const broken = { on: true };
  const registry = defaultRegistry();
  registry.register({
    type: "count",
    run: (ctx) => {
      ran.push(`${ctx.runId}/${ctx.stepId}`);
      return { n: ran.length, step: ctx.stepId };
    },
  });
  registry.register({
    type: "flaky",
    run: (ctx) => {
      ran.push(`${ctx.runId}/${ctx.stepId}`);
      if (broken.on) throw new Error("flaky is broken");
      return { fixed: true };
    },
  });
  return { registry, ran, broken };
}

const RUN_FIELDS = `id status rerunOf reruns steps { stepId status attempts output } waiting { reason until detail }`;

async function settle(forge: Awaited<ReturnType<typeof startForge>>, rounds = 5) {
  for (let i = 0; i < rounds; i++) {
    const r = await forge.app.forge.tickOnce(100);
    if (r.ticked === 0) return;
  }
}

describe("rerunRun", () => {
  it("reuses what succeeded (outputs and artifacts, step_reused, attempts 0) and runs the failed step and its dependents again", async () => {
    const { registry, ran, broken } = countingRegistry();
    const forge = await startForge({ registry });
    const graph = {
      steps: {
        a: { type: "count" },
        art: { type: "artifact", deps: ["a"], params: { name: "report.txt", content: "hello" } },
        b: { type: "flaky", deps: ["a"], retry: { maxAttempts: 1 } },
        c: { type: "count", deps: ["b"] },
        side: { type: "count" },
      },
    };
    const original = await forge.app.forge.createRun(runInput({ graph, params: { p: 1 }, priority: 7, lane: "l1" }));
    await settle(forge);
    expect((await forge.app.forge.getRun(original.id))?.status).toBe("FAILED");
    const ranBefore = ran.length;
    broken.on = false;

    const res = await forge.gql(`mutation($id: ID!) { rerunRun(id: $id) { ${RUN_FIELDS} lane priority params requestedBy } }`, {
      id: original.id,
    });
    expect(res.errors).toBeUndefined();
    const rerun = res.data.rerunRun;
    expect(rerun).toMatchObject({
      status: "PENDING",
      rerunOf: original.id,
      lane: "l1",
      priority: 7,
      params: { p: 1 },
      requestedBy: "tests",
    });
    expect(rerun.id).not.toBe(original.id);
    const byId = Object.fromEntries(rerun.steps.map((s: { stepId: string }) => [s.stepId, s]));
    expect(byId.a).toMatchObject({ status: "SUCCEEDED", attempts: 0, output: { n: 1, step: "a" } });
    expect(byId.art).toMatchObject({ status: "SUCCEEDED", attempts: 0 });
    expect(byId.side).toMatchObject({ status: "SUCCEEDED", attempts: 0 });
    expect(byId.b).toMatchObject({ status: "PENDING", attempts: 0, output: null });
    expect(byId.c).toMatchObject({ status: "PENDING", attempts: 0 });

    const events = await forge.app.forge.runEvents(rerun.id, 0, 100);
    expect(events.slice(0, 4).map((e) => [e.seq, e.type, e.stepId, e.data])).toEqual([
      [1, "run_created", null, { rerunOf: original.id, fromStep: null }],
      [2, "step_reused", "a", { fromRunId: original.id }],
      // In the run's step order: topological, then by id.
      [3, "step_reused", "art", { fromRunId: original.id }],
      [4, "step_reused", "side", { fromRunId: original.id }],
    ]);

    await settle(forge);
    const done = await forge.gql(`query($id: ID!) { run(id: $id) { ${RUN_FIELDS} artifacts { name stepId sha256 content } } }`, {
      id: rerun.id,
    });
    expect(done.data.run.status).toBe("SUCCEEDED");
    // Only b and c ran again: a, side and the artifact step were not re-executed.
    expect(ran.slice(ranBefore).sort()).toEqual([`${rerun.id}/b`, `${rerun.id}/c`]);
    expect(done.data.run.artifacts).toEqual([expect.objectContaining({ name: "report.txt", stepId: "art", content: "hello" })]);
    const back = await forge.gql(`query($id: ID!) { run(id: $id) { reruns rerunOf } }`, { id: original.id });
    expect(back.data.run).toEqual({ reruns: [rerun.id], rerunOf: null });
  });

  it("with fromStep, runs that step and everything downstream of it again, even if they succeeded", async () => {
    const { registry, ran, broken } = countingRegistry();
    broken.on = false;
    const forge = await startForge({ registry });
    const graph = {
      steps: { a: { type: "count" }, b: { type: "count", deps: ["a"] }, c: { type: "count", deps: ["b"] }, d: { type: "count" } },
    };
    const original = await forge.app.forge.createRun(runInput({ graph }));
    await settle(forge);
    const before = ran.length;
    const res = await forge.gql(`mutation($id: ID!) { rerunRun(id: $id, fromStep: "b") { ${RUN_FIELDS} } }`, { id: original.id });
    const statuses = Object.fromEntries(res.data.rerunRun.steps.map((s: { stepId: string; status: string }) => [s.stepId, s.status]));
    expect(statuses).toEqual({ a: "SUCCEEDED", b: "PENDING", c: "PENDING", d: "SUCCEEDED" });
    await settle(forge);
    expect(
      ran
        .slice(before)
        .map((r) => r.split("/")[1])
        .sort(),
    ).toEqual(["b", "c"]);
  });

  it("refuses a run that is not finished and an unknown fromStep (BAD_USER_INPUT), an unknown run (NOT_FOUND), without the admin token (FORBIDDEN)", async () => {
    const forge = await startForge();
    const pending = await forge.app.forge.createRun(runInput());
    const notDone = await forge.gql(`mutation($id: ID!) { rerunRun(id: $id) { id } }`, { id: pending.id });
    expect(notDone.errors?.[0]).toMatchObject({
      extensions: { code: "BAD_USER_INPUT" },
      message: expect.stringMatching(/^id: .*is PENDING/),
    });
    await settle(forge);
    const badStep = await forge.gql(`mutation($id: ID!) { rerunRun(id: $id, fromStep: "nope") { id } }`, { id: pending.id });
    expect(badStep.errors?.[0]).toMatchObject({
      extensions: { code: "BAD_USER_INPUT" },
      message: expect.stringMatching(/^fromStep: the run has no step "nope"/),
    });
    const unknown = await forge.gql(`mutation { rerunRun(id: "missing") { id } }`);
    expect(unknown.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    const long = await forge.gql(`mutation($id: ID!) { rerunRun(id: $id) { id } }`, { id: "x".repeat(100_000) });
    expect(long.errors?.[0]).toMatchObject({
      extensions: { code: "BAD_USER_INPUT" },
      message: "id: must be 1-128 characters of [A-Za-z0-9._:-]",
    });
    const forbidden = await forge.gql(`mutation($id: ID!) { rerunRun(id: $id) { id } }`, { id: pending.id }, API);
    expect(forbidden.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    // Nothing was created by any refusal.
    expect(await forge.app.forge.db.read.run.count()).toBe(1);
  });
});

describe("bulk actions", () => {
  it("refuses an empty filter, naming it, and changes nothing", async () => {
    const forge = await startForge();
    await forge.app.forge.createRun(runInput());
    for (const m of ["cancelRuns", "rerunRuns"]) {
      const res = await forge.gql(`mutation { ${m}(filter: {}) { matched } }`);
      expect(res.errors?.[0]).toMatchObject({
        extensions: { code: "BAD_USER_INPUT" },
        message: expect.stringMatching(/^filter: must set at least one/),
      });
    }
    expect((await forge.app.forge.db.read.run.findFirst())?.status).toBe("PENDING");
  });

  it("cancelRuns with dryRun counts and changes nothing; without, cancels the unfinished matches in batches", async () => {
    const forge = await startForge();
    await forge.app.forge.createRun(runInput({ jobType: "build" }));
    await forge.app.forge.tickOnce(1); // one build run is finished: matched, not cancelled
    const inputs = Array.from({ length: 450 }, (_, i) => runInput({ jobType: i % 3 === 0 ? "other" : "build" }));
    for (let i = 0; i < inputs.length; i += 150) await forge.app.forge.createRuns(inputs.slice(i, i + 150));
    const dry = await forge.gql(`mutation { cancelRuns(filter: { jobType: "build" }, dryRun: true) { matched affected runIds dryRun } }`);
    expect(dry.data.cancelRuns).toMatchObject({ matched: 301, affected: 300, dryRun: true });
    expect(dry.data.cancelRuns.runIds).toHaveLength(300);
    expect(await forge.app.forge.db.read.run.count({ where: { status: "CANCELLED" } })).toBe(0);
    const commitsBefore = forge.app.forge.db.commits;
    const real = await forge.gql(`mutation { cancelRuns(filter: { jobType: "build" }) { matched affected runIds dryRun } }`);
    expect(real.data.cancelRuns).toMatchObject({ matched: 301, affected: 300, dryRun: false });
    expect(new Set(real.data.cancelRuns.runIds)).toEqual(new Set(dry.data.cancelRuns.runIds));
    // 300 runs in batches of 200: two transactions, not one and not 300.
    expect(forge.app.forge.db.commits - commitsBefore).toBe(2);
    expect(await forge.app.forge.db.read.run.count({ where: { status: "CANCELLED", jobType: "build" } })).toBe(300);
    expect(await forge.app.forge.db.read.run.count({ where: { jobType: "other", status: "PENDING" } })).toBe(150);
    // Each cancelled run got its step_cancelled and run_cancelled, as cancelRun does.
    const one = real.data.cancelRuns.runIds[0];
    expect((await forge.app.forge.runEvents(one, 0, 10)).map((e) => e.type)).toEqual(["run_created", "step_cancelled", "run_cancelled"]);
  });

  it("splits a page of runs with large graphs into transactions of at most 2,000 steps", async () => {
    const forge = await startForge();
    const steps = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`s${i}`, { type: "noop" }]));
    await forge.app.forge.createRuns(Array.from({ length: 10 }, () => runInput({ lane: "big", graph: { steps } })));
    const before = forge.app.forge.db.commits;
    const res = await forge.gql(`mutation { cancelRuns(filter: { lane: "big" }) { matched affected } }`);
    expect(res.data.cancelRuns).toEqual({ matched: 10, affected: 10 });
    // 5,000 steps: four runs (2,000 steps), four, then two.
    expect(forge.app.forge.db.commits - before).toBe(3);
    expect(await forge.app.forge.db.read.step.count({ where: { status: "CANCELLED" } })).toBe(5000);
  });

  it("rerunRuns re-runs only FAILED and CANCELLED matches, once each, and says so in matched/affected", async () => {
    const forge = await startForge();
    const failing = { steps: { x: { type: "fail", retry: { maxAttempts: 1 } } } };
    const runs = await forge.app.forge.createRuns([
      runInput({ graph: failing, lane: "bulk" }),
      runInput({ graph: failing, lane: "bulk" }),
      runInput({ lane: "bulk" }),
    ]);
    await settle(forge);
    const cancelled = await forge.app.forge.createRun(runInput({ lane: "bulk" }));
    await forge.app.forge.cancelRun(cancelled.id);
    const pending = await forge.app.forge.createRun(runInput({ lane: "bulk" }));
    void pending;
    const dry = await forge.gql(`mutation { rerunRuns(filter: { lane: "bulk" }, dryRun: true) { matched affected runIds } }`);
    expect(dry.data.rerunRuns).toMatchObject({ matched: 5, affected: 3 });
    const real = await forge.gql(`mutation { rerunRuns(filter: { lane: "bulk" }) { matched affected runIds } }`);
    expect(real.data.rerunRuns).toMatchObject({ matched: 5, affected: 3 });
    expect(new Set(real.data.rerunRuns.runIds)).toEqual(new Set([runs[0]?.id, runs[1]?.id, cancelled.id]));
    // Again: the runs made just now are not matched (created after... no: they match the lane,
    // but are PENDING), and the originals have a re-run already.
    const again = await forge.gql(`mutation { rerunRuns(filter: { lane: "bulk" }) { matched affected } }`);
    expect(again.data.rerunRuns).toMatchObject({ matched: 8, affected: 0 });
    expect(await forge.app.forge.db.read.run.count({ where: { rerunOf: { not: null } } })).toBe(3);
  });

  it("refuses a bad filter field by name", async () => {
    const forge = await startForge();
    const bad = await forge.gql(`mutation { cancelRuns(filter: { lane: "no spaces" }) { matched } }`);
    expect(bad.errors?.[0]?.message).toMatch(/^filter\.lane: must be 1-128 characters/);
    const order = await forge.gql(
      `mutation { cancelRuns(filter: { createdAfter: "2026-01-02T00:00:00.000Z", createdBefore: "2026-01-01T00:00:00.000Z" }) { matched } }`,
    );
    expect(order.errors?.[0]?.message).toMatch(/^filter\.createdBefore: must be later/);
    const empty = await forge.gql(`mutation { cancelRuns(filter: { ids: [] }) { matched } }`);
    expect(empty.errors?.[0]?.message).toMatch(/^filter\.ids: must list at least one id/);
  });
});

describe("pauses", () => {
  it("a paused lane's runs are not claimed, waiting says PAUSED, and resume lets them go on with nothing lost or repeated", async () => {
    const forge = await startForge();
    const p = await forge.gql(`mutation { pause(lane: "slow", reason: "incident 42") { lane jobType pausedAt reason } }`);
    expect(p.data.pause).toMatchObject({ lane: "slow", jobType: null, reason: "incident 42" });
    const held = await forge.app.forge.createRun(runInput({ lane: "slow" }));
    const free = await forge.app.forge.createRun(runInput({ lane: "fast" }));
    // The queue's depth and its lanes count what waits for capacity, not what a pause holds back.
    const queue = await forge.gql(`{ workerStatus { queueDepth lanes { lane depth } } }`);
    expect(queue.data.workerStatus).toEqual({ queueDepth: 1, lanes: [{ lane: "fast", depth: 1 }] });
    const tick = await forge.app.forge.tickOnce(100);
    expect(tick.runIds).toEqual([free.id]);
    const w = await forge.gql(`query($id: ID!) { run(id: $id) { status waiting { reason until detail } } }`, { id: held.id });
    expect(w.data.run).toMatchObject({ status: "PENDING", waiting: { reason: "PAUSED", until: null } });
    expect(w.data.run.waiting.detail).toContain('Lane "slow" is paused');
    expect(w.data.run.waiting.detail).toContain("incident 42");
    // The pause's reason is for admins (pauses is an admin query).
    const forReader = await forge.gql(`query($id: ID!) { run(id: $id) { waiting { reason detail } } }`, { id: held.id }, API);
    expect(forReader.data.run.waiting.reason).toBe("PAUSED");
    expect(forReader.data.run.waiting.detail).not.toContain("incident 42");
    expect((await forge.gql(`{ pauses { lane jobType reason } }`)).data.pauses).toEqual([
      { lane: "slow", jobType: null, reason: "incident 42" },
    ]);
    expect((await forge.gql(`mutation { resume(lane: "slow") }`)).data.resume).toBe(true);
    expect((await forge.gql(`mutation { resume(lane: "slow") }`)).data.resume).toBe(false);
    expect((await forge.app.forge.tickOnce(100)).runIds).toEqual([held.id]);
    expect((await forge.app.forge.runEvents(held.id, 0, 10)).map((e) => e.type)).toEqual([
      "run_created",
      "run_started",
      "step_started",
      "step_succeeded",
      "run_succeeded",
    ]);
  });

  it("a run being advanced when its lane is paused finishes the steps in flight and starts no new one; resume runs the rest once", async () => {
    const registry = defaultRegistry();
    const ran: string[] = [];
    let started = () => {};
    const firstStarted = new Promise<void>((resolve) => {
      started = resolve;
    });
    registry.register({
      type: "slow",
      run: async (ctx) => {
        ran.push(ctx.stepId);
        started();
        await new Promise((resolve) => setTimeout(resolve, 300));
        return null;
      },
    });
    const forge = await startForge({ registry });
    const steps = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`s${i}`, { type: "slow", deps: i ? [`s${i - 1}`] : [] }]));
    const run = await forge.app.forge.createRun(runInput({ lane: "busy", graph: { steps } }));
    const ticking = forge.app.forge.tickOnce(10);
    await firstStarted;
    await forge.app.forge.lifecycle.pause("busy", null, null);
    await ticking;
    // The tick learns of the pause at its next lease renewal (within a second): 1.8 s of steps were not all run.
    expect(ran.length).toBeLessThan(6);
    const stopped = await forge.gql(`query($id: ID!) { run(id: $id) { status waiting { reason } steps { status } } }`, { id: run.id });
    expect(stopped.data.run.status).toBe("RUNNING");
    expect(stopped.data.run.waiting.reason).toBe("PAUSED");
    expect(stopped.data.run.steps.filter((st: { status: string }) => st.status === "SUCCEEDED")).toHaveLength(ran.length);
    expect((await forge.app.forge.tickOnce(10)).ticked).toBe(0);
    await forge.app.forge.lifecycle.resume("busy", null);
    await forge.app.forge.tickOnce(10);
    expect((await forge.app.forge.getRun(run.id))?.status).toBe("SUCCEEDED");
    expect(ran).toEqual(["s0", "s1", "s2", "s3", "s4", "s5"]);
  });

  it("pauses by job type, and by lane and job type together (both must match)", async () => {
    const forge = await startForge();
    await forge.gql(`mutation { pause(jobType: "deploy") { jobType } }`);
    await forge.gql(`mutation { pause(lane: "gpu", jobType: "train") { lane } }`);
    const deploy = await forge.app.forge.createRun(runInput({ jobType: "deploy", lane: "any" }));
    const trainGpu = await forge.app.forge.createRun(runInput({ jobType: "train", lane: "gpu" }));
    const trainCpu = await forge.app.forge.createRun(runInput({ jobType: "train", lane: "cpu" }));
    const buildGpu = await forge.app.forge.createRun(runInput({ jobType: "build", lane: "gpu" }));
    const tick = await forge.app.forge.tickOnce(100);
    expect(new Set(tick.runIds)).toEqual(new Set([trainCpu.id, buildGpu.id]));
    void deploy;
    void trainGpu;
  });

  it("pause needs a lane or a job type; pause and resume need the admin token", async () => {
    const forge = await startForge();
    expect((await forge.gql(`mutation { pause { lane } }`)).errors?.[0]).toMatchObject({ extensions: { code: "BAD_USER_INPUT" } });
    expect((await forge.gql(`mutation { pause(lane: "x") { lane } }`, {}, API)).errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    expect((await forge.gql(`{ pauses { lane } }`, {}, API)).errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    expect((await forge.gql(`mutation { resume(lane: "x") }`, {}, API)).errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
  });
});

describe("retention", () => {
  it("pruneRuns deletes finished runs with their steps, events and artifacts; dryRun only counts; survivors keep their events and ids", async () => {
    const clock = new TestClock(new Date("2026-06-01T00:00:00.000Z"));
    const forge = await startForge({ clock });
    const url = await forge.app.start();
    const graph = { steps: { a: { type: "artifact", params: { name: "f", content: "x" } }, b: { type: "noop", deps: ["a"] } } };
    const old = await forge.app.forge.createRuns([runInput({ graph }), runInput({ graph })]);
    await settle(forge);
    clock.advance(10 * 24 * 3600 * 1000);
    const kept = await forge.app.forge.createRun(runInput({ graph }));
    await settle(forge);
    const open = await forge.app.forge.createRun(runInput());
    const keptEvents = await forge.app.forge.runEvents(kept.id, 0, 100);
    const cutoff = new Date(clock.now().getTime() - 5 * 24 * 3600 * 1000).toISOString();
    const dry = await forge.gql(
      `mutation($t: DateTime!) { pruneRuns(finishedBefore: $t, dryRun: true) { runs events artifacts dryRun } }`,
      { t: cutoff },
    );
    // Each old run: run_created, run_started, 2 x (step_started, step_succeeded), run_succeeded = 7 events.
    expect(dry.data.pruneRuns).toEqual({ runs: 2, events: 14, artifacts: 2, dryRun: true });
    expect(await forge.app.forge.db.read.run.count()).toBe(4);
    const real = await forge.gql(`mutation($t: DateTime!) { pruneRuns(finishedBefore: $t) { runs events artifacts dryRun } }`, {
      t: cutoff,
    });
    expect(real.data.pruneRuns).toEqual({ runs: 2, events: 14, artifacts: 2, dryRun: false });
    for (const r of old) {
      expect((await forge.gql(`query($id: ID!) { run(id: $id) { id } }`, { id: r.id })).data.run).toBeNull();
      // The runEvents subscription ends NOT_FOUND, as for a run that never existed (the query lists nothing).
      const sub = subscribe(wsClient(url), RunEventsSubscription, { runId: r.id });
      await sub.done;
      expect(sub.errors.map((e) => e.extensions?.code)).toEqual(["NOT_FOUND"]);
      expect((await forge.gql(`query($id: ID!) { runEvents(runId: $id) { seq } }`, { id: r.id })).data.runEvents).toEqual([]);
    }
    const db = forge.app.forge.db.read;
    expect(await db.step.count({ where: { runId: { in: old.map((r) => r.id) } } })).toBe(0);
    expect(await db.event.count({ where: { runId: { in: old.map((r) => r.id) } } })).toBe(0);
    expect(await db.artifact.count({ where: { runId: { in: old.map((r) => r.id) } } })).toBe(0);
    expect(await forge.app.forge.runEvents(kept.id, 0, 100)).toEqual(keptEvents);
    expect((await forge.app.forge.getRun(open.id))?.status).toBe("PENDING");
  });

  it("prunes runs with large histories in transactions of at most 20,000 events", async () => {
    const clock = new TestClock(new Date("2026-06-01T00:00:00.000Z"));
    const forge = await startForge({ clock });
    const steps = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`s${i}`, { type: "noop" }]));
    for (let i = 0; i < 5; i++) await forge.app.forge.createRuns(Array.from({ length: 10 }, () => runInput({ graph: { steps } })));
    await settle(forge, 20);
    clock.advance(1000);
    const before = forge.app.forge.db.commits;
    // 50 runs of 1,003 events each: 19 per transaction (19,057 events), then 19, then 12, then one finding none left.
    expect((await forge.app.forge.lifecycle.prune(clock.now(), null, false)).runs).toBe(50);
    expect(forge.app.forge.db.commits - before).toBe(4);
  }, 60_000);

  it("a follower of a run that is pruned while it replays the run's events ends NOT_FOUND instead of waiting forever", async () => {
    const clock = new TestClock(new Date("2026-06-01T00:00:00.000Z"));
    const forge = await startForge({ clock });
    const steps = Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`s${i}`, { type: "noop" }]));
    const run = await forge.app.forge.createRun(runInput({ graph: { steps } }));
    // Another follower keeps the event feed moving, so the events are passed on (to it) as they
    // commit: the follower below reads them from the store alone, and what it has not read yet
    // is gone once the run is pruned.
    const other = forge.app.forge.feed.subscribe(() => {});
    await settle(forge);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const abort = new AbortController();
    const follower = await forge.app.forge.followRun(run.id, 0, abort.signal);
    const first = await follower.next(); // the first page of its 803 events
    expect(first.value?.length).toBe(500);
    clock.advance(1000);
    await forge.app.forge.lifecycle.prune(clock.now(), null, false);
    await expect(follower.next()).rejects.toMatchObject({ code: "NOT_FOUND" });
    abort.abort();
    other();
  });

  it("pruneRuns refuses statuses that are not finished, by name", async () => {
    const forge = await startForge();
    const res = await forge.gql(
      `mutation { pruneRuns(finishedBefore: "2026-01-01T00:00:00.000Z", status: [SUCCEEDED, RUNNING]) { runs } }`,
    );
    expect(res.errors?.[0]).toMatchObject({
      extensions: { code: "BAD_USER_INPUT" },
      message: expect.stringMatching(/^status\[1\]: RUNNING is not a finished status/),
    });
  });
});

describe("waiting", () => {
  it("says QUEUED, TIMER, RETRY_BACKOFF, SIGNAL and LANE_CAP from the run's state, and null once terminal", async () => {
    const clock = new TestClock(new Date("2026-06-01T00:00:00.000Z"));
    const forge = await startForge({ clock });
    const queued = await forge.app.forge.createRun(runInput());
    const q = await forge.gql(`query($id: ID!) { run(id: $id) { waiting { reason until detail } } }`, { id: queued.id });
    expect(q.data.run.waiting).toMatchObject({ reason: "QUEUED", until: null });
    expect(q.data.run.waiting.detail).toContain("no worker is running");
    const sleeper = await forge.app.forge.createRun(runInput({ graph: { steps: { nap: { type: "sleep", params: { ms: 60_000 } } } } }));
    const retrier = await forge.app.forge.createRun(
      runInput({
        graph: { steps: { x: { type: "fail", params: { times: 5, message: "boom" }, retry: { maxAttempts: 3, backoffMs: 30_000 } } } },
      }),
    );
    const approver = await forge.app.forge.createRun(runInput({ graph: { steps: { ok: { type: "approval" } } } }));
    await forge.app.forge.tickOnce(100);
    const ask = async (id: string) =>
      (await forge.gql(`query($id: ID!) { run(id: $id) { waiting { reason until detail } } }`, { id })).data.run.waiting;
    expect(await ask(queued.id)).toBeNull();
    expect(await ask(sleeper.id)).toMatchObject({ reason: "TIMER", until: "2026-06-01T00:01:00.000Z" });
    const retry = await ask(retrier.id);
    expect(retry).toMatchObject({ reason: "RETRY_BACKOFF", until: "2026-06-01T00:00:30.000Z" });
    expect(retry.detail).toContain("boom");
    expect(await ask(approver.id)).toMatchObject({ reason: "SIGNAL", until: null, detail: expect.stringContaining('"ok"') });
  });
});

describe("waiting, continued", () => {
  it("says LANE_CAP for a pending run of a full capped lane, naming the cap", async () => {
    const dir = mkdtempSync(join(tmpdir(), "forge-cap-"));
    const policyFile = join(dir, "forge.policy.json");
    writeFileSync(policyFile, JSON.stringify({ "*": { laneConcurrency: { narrow: 1 } } }));
    const clock = new TestClock(new Date("2026-06-01T00:00:00.000Z"));
    const forge = await startForge({ clock, env: { FORGE_POLICY_FILE: policyFile } });
    const sleepy = { steps: { nap: { type: "sleep", params: { ms: 60_000 } } } };
    const first = await forge.app.forge.createRun(runInput({ lane: "narrow", graph: sleepy }));
    clock.advance(1); // the older one is taken first
    const second = await forge.app.forge.createRun(runInput({ lane: "narrow", graph: sleepy }));
    expect((await forge.app.forge.tickOnce(10)).runIds).toEqual([first.id]);
    const res = await forge.gql(
      `query($a: ID!, $b: ID!) { a: run(id: $a) { waiting { reason } } b: run(id: $b) { waiting { reason until detail } } }`,
      {
        a: first.id,
        b: second.id,
      },
    );
    expect(res.data.a.waiting.reason).toBe("TIMER");
    expect(res.data.b.waiting).toMatchObject({ reason: "LANE_CAP", until: null });
    expect(res.data.b.waiting.detail).toContain('Lane "narrow" is full: 1 of its cap of 1 running run');
  });

  it("is null while this process advances the run, and LEASED (until the expiry) while a holder nobody hears from keeps its lease", async () => {
    const clock = new TestClock(new Date("2026-06-01T00:00:00.000Z"));
    const registry = defaultRegistry();
    let release = () => {};
    const blocked = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started = false;
    registry.register({
      type: "block",
      run: async () => {
        started = true;
        await blocked;
        return null;
      },
    });
    const forge = await startForge({ clock, registry });
    const ask = async (id: string) =>
      (await forge.gql(`query($id: ID!) { run(id: $id) { waiting { reason until detail } } }`, { id })).data.run.waiting;
    const busy = await forge.app.forge.createRun(runInput({ graph: { steps: { b: { type: "block" } } } }));
    const ticking = forge.app.forge.tickOnce(10);
    await waitFor(() => started, "the step to start");
    expect(await ask(busy.id)).toBeNull();
    release();
    await ticking;

    const run = await forge.app.forge.createRun(runInput());
    // A worker that stopped (or crashed: its heartbeat went stale) while holding the run's lease.
    await registerWorker(forge.app.forge.db, "crashed-host:123", clock.now());
    await markWorkerStopped(forge.app.forge.db, "crashed-host:123", clock.now());
    await forge.app.forge.db.read.$executeRawUnsafe(
      `UPDATE runs SET lease_owner = 'crashed-host:123', lease_expires_at = ${forge.app.forge.db.dialect === "postgres" ? "'2026-06-01 00:00:30'" : Date.parse("2026-06-01T00:00:30.000Z")} WHERE id = '${run.id}'`,
    );
    const leased = await ask(run.id);
    expect(leased).toMatchObject({ reason: "LEASED", until: "2026-06-01T00:00:30.000Z" });
    expect(leased.detail).toContain("crashed-host:123");
    // The holder's name is for admins: a reader with the API token gets the rest of the sentence.
    const forReader = await forge.gql(`query($id: ID!) { run(id: $id) { waiting { reason detail } } }`, { id: run.id }, API);
    expect(forReader.data.run.waiting.reason).toBe("LEASED");
    expect(forReader.data.run.waiting.detail).not.toContain("crashed-host");
    // A holder that is not a worker known to be gone (an admin tickOnce in another process) is taken to be at work.
    await forge.app.forge.db.read.$executeRawUnsafe(`UPDATE runs SET lease_owner = 'ticker:elsewhere' WHERE id = '${run.id}'`);
    expect(await ask(run.id)).toBeNull();
    await forge.app.forge.db.read.$executeRawUnsafe(`UPDATE runs SET lease_owner = NULL, lease_expires_at = NULL WHERE id = '${run.id}'`);
    clock.advance(31_000);
    expect((await ask(run.id)).reason).toBe("QUEUED");
  });

  it("answers for 500 runs in one request, each from its own state", async () => {
    const forge = await startForge();
    await forge.gql(`mutation { pause(lane: "held") { lane } }`);
    const inputs = Array.from({ length: 500 }, (_, i) => runInput({ lane: i % 2 === 0 ? "held" : "open" }));
    await forge.app.forge.createRuns(inputs);
    const res = await forge.gql(`{ runs(first: 500) { edges { node { lane waiting { reason } } } } }`);
    expect(res.errors).toBeUndefined();
    const reasons = res.data.runs.edges.map(
      (e: { node: { lane: string; waiting: { reason: string } } }) => `${e.node.lane}:${e.node.waiting.reason}`,
    );
    expect(reasons.filter((r: string) => r === "held:PAUSED")).toHaveLength(250);
    expect(reasons.filter((r: string) => r === "open:QUEUED")).toHaveLength(250);
  });
});

describe("admin actions", () => {
  it("each lifecycle mutation that takes effect is recorded once, with actor, action, target and detail; refusals are not", async () => {
    const recorded: AdminAction[] = [];
    const forge = await startForge({ audit: { record: (a) => recorded.push(a) } });
    const run = await forge.app.forge.createRun(runInput({ lane: "audited" }));
    await forge.gql(`mutation { pause(lane: "audited", reason: "why") { lane } }`);
    await forge.gql(`mutation { resume(lane: "audited") }`);
    await forge.gql(`mutation { cancelRuns(filter: { lane: "audited" }) { affected } }`);
    await forge.gql(`mutation($id: ID!) { rerunRun(id: $id) { id } }`, { id: run.id });
    await forge.gql(`mutation { pruneRuns(finishedBefore: "2000-01-01T00:00:00.000Z", dryRun: true) { runs } }`);
    await forge.gql(`mutation { cancelRuns(filter: {}) { affected } }`); // refused: not recorded
    await forge.gql(`mutation { pause(lane: "x") { lane } }`, {}, API); // forbidden: not recorded
    expect(recorded.map((a) => [a.actor, a.action, a.target])).toEqual([
      ["admin-token", "pause", "lane:audited"],
      ["admin-token", "resume", "lane:audited"],
      ["admin-token", "cancelRuns", JSON.stringify({ lane: "audited" })],
      ["admin-token", "rerunRun", run.id],
      ["admin-token", "pruneRuns(dryRun)", null],
    ]);
    expect(recorded[2]?.detail).toEqual({ matched: 1, affected: 1 });
    expect(recorded[3]?.detail).toMatchObject({ fromStep: null, rerunId: expect.any(String) });
  });
});

describe("rerunRun, continued", () => {
  it("a re-run of a run that succeeded reuses every step and succeeds without running any", async () => {
    const { registry, ran, broken } = countingRegistry();
    broken.on = false;
    const forge = await startForge({ registry });
    const original = await forge.app.forge.createRun(
      runInput({ graph: { steps: { a: { type: "count" }, b: { type: "count", deps: ["a"] } } } }),
    );
    await settle(forge);
    const before = ran.length;
    const rerun = await forge.app.forge.lifecycle.rerun(original.id, null);
    await settle(forge);
    expect((await forge.app.forge.getRun(rerun.id))?.status).toBe("SUCCEEDED");
    expect(ran.length).toBe(before);
    expect((await forge.app.forge.runEvents(rerun.id, 0, 20)).map((e) => e.type)).toEqual([
      "run_created",
      "step_reused",
      "step_reused",
      "run_started",
      "run_succeeded",
    ]);
  });

  it("applies the policy in force now: a graph the policy no longer allows is refused by name, and nothing is created", async () => {
    const dir = mkdtempSync(join(tmpdir(), "forge-policy-"));
    const policyFile = join(dir, "forge.policy.json");
    writeFileSync(policyFile, JSON.stringify({ build: { allowedStepTypes: ["noop", "fail"] } }));
    const forge = await startForge({ env: { FORGE_POLICY_FILE: policyFile } });
    const run = await forge.app.forge.createRun(runInput({ graph: { steps: { x: { type: "fail", retry: { maxAttempts: 1 } } } } }));
    await settle(forge);
    const db = forge.dbUrl;
    await forge.stop();
    writeFileSync(policyFile, JSON.stringify({ build: { allowedStepTypes: ["noop"] } }));
    const again = await startForge({ dbUrl: db, env: { FORGE_POLICY_FILE: policyFile } });
    const res = await again.gql(`mutation($id: ID!) { rerunRun(id: $id) { id } }`, { id: run.id });
    expect(res.errors?.[0]).toMatchObject({ extensions: { code: "BAD_USER_INPUT" } });
    expect(res.errors?.[0]?.message).toMatch(
      /^id: run ".*" cannot be re-run under its job type's policy now: .*step type "fail" is not allowed/,
    );
    expect(await again.app.forge.db.read.run.count()).toBe(1);
  });
});

describe("bulk actions, continued", () => {
  it("rerunRuns copies at most 2 MiB of reused artifacts per transaction", async () => {
    const forge = await startForge();
    const graph = {
      steps: {
        big: { type: "artifact", params: { name: "blob", content: "x".repeat(600 * 1024) } },
        x: { type: "fail", deps: ["big"], retry: { maxAttempts: 1 } },
      },
    };
    await forge.app.forge.createRuns(Array.from({ length: 6 }, () => runInput({ lane: "heavy", graph })));
    await settle(forge);
    const before = forge.app.forge.db.commits;
    const res = await forge.gql(`mutation { rerunRuns(filter: { lane: "heavy", status: [FAILED] }) { affected } }`);
    expect(res.data.rerunRuns.affected).toBe(6);
    // 600 KiB each: three runs (1.8 MiB) a transaction.
    expect(forge.app.forge.db.commits - before).toBe(2);
    expect(await forge.app.forge.db.read.artifact.count()).toBe(12);
  });

  it("an explicit dryRun: null is refused by name, not taken for false", async () => {
    const forge = await startForge();
    await forge.app.forge.createRun(runInput({ lane: "n" }));
    for (const m of [
      `cancelRuns(filter: { lane: "n" }, dryRun: null) { matched }`,
      `rerunRuns(filter: { lane: "n" }, dryRun: null) { matched }`,
      `pruneRuns(finishedBefore: "2030-01-01T00:00:00.000Z", dryRun: null) { runs }`,
    ]) {
      const res = await forge.gql(`mutation { ${m} }`);
      expect(res.errors?.[0]).toMatchObject({
        extensions: { code: "BAD_USER_INPUT" },
        message: expect.stringMatching(/^dryRun: must be true or false/),
      });
    }
    expect((await forge.app.forge.db.read.run.findFirst())?.status).toBe("PENDING");
  });

  it("rerunRuns' dry run counts what the real call does, leaving out runs the policy in force now refuses", async () => {
    const dir = mkdtempSync(join(tmpdir(), "forge-policy-"));
    const policyFile = join(dir, "forge.policy.json");
    writeFileSync(policyFile, JSON.stringify({ build: { allowedStepTypes: ["noop", "fail"] } }));
    const forge = await startForge({ env: { FORGE_POLICY_FILE: policyFile } });
    await forge.app.forge.createRuns([
      runInput({ lane: "p", graph: { steps: { x: { type: "fail", retry: { maxAttempts: 1 } } } } }),
      runInput({ lane: "p", graph: { steps: { y: { type: "noop" }, x: { type: "fail", deps: ["y"], retry: { maxAttempts: 1 } } } } }),
    ]);
    await settle(forge);
    const dbUrl = forge.dbUrl;
    await forge.stop();
    // Now "fail" is no longer allowed: neither run can be re-run.
    writeFileSync(policyFile, JSON.stringify({ build: { allowedStepTypes: ["noop"] } }));
    const again = await startForge({ dbUrl, env: { FORGE_POLICY_FILE: policyFile } });
    const dry = await again.gql(`mutation { rerunRuns(filter: { lane: "p" }, dryRun: true) { matched affected } }`);
    const real = await again.gql(`mutation { rerunRuns(filter: { lane: "p" }) { matched affected } }`);
    expect(dry.data.rerunRuns).toEqual({ matched: 2, affected: 0 });
    expect(real.data.rerunRuns).toEqual(dry.data.rerunRuns);
  });

  it("a run whose re-run was pruned has still been re-run: rerunRuns does not re-run it again", async () => {
    const clock = new TestClock(new Date("2026-06-01T00:00:00.000Z"));
    const { broken, registry } = countingRegistry();
    const forge = await startForge({ clock, registry });
    const failed = await forge.app.forge.createRun(
      runInput({ lane: "once", graph: { steps: { x: { type: "flaky", retry: { maxAttempts: 1 } } } } }),
    );
    await settle(forge);
    broken.on = false;
    const first = await forge.gql(`mutation { rerunRuns(filter: { lane: "once" }) { affected } }`);
    expect(first.data.rerunRuns.affected).toBe(1);
    await settle(forge); // the re-run succeeds
    clock.advance(1000);
    expect((await forge.app.forge.lifecycle.prune(clock.now(), ["SUCCEEDED"], false)).runs).toBe(1);
    const again = await forge.gql(`mutation { rerunRuns(filter: { lane: "once" }) { matched affected } }`);
    expect(again.data.rerunRuns).toEqual({ matched: 1, affected: 0 });
    expect((await forge.gql(`query($id: ID!) { run(id: $id) { reruns } }`, { id: failed.id })).data.run.reruns).toEqual([]);
  });
});
