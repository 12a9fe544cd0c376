import { describe, expect, it } from "vitest";
import type { TestClock } from "../src/clock.ts";
import type { EngineTunables } from "../src/config.ts";
import { runAttempt } from "../src/engine/attempt.ts";
import { ClaimSystem } from "../src/engine/claim.ts";
import { CommitPipeline } from "../src/engine/commit.ts";
import { LeaseKeeper } from "../src/engine/lease-keeper.ts";
import type { EngineResources } from "../src/engine/resources.ts";
import { advanceRun } from "../src/engine/tick.ts";
import { findRun, findSteps } from "../src/store/runs.ts";
import { runInput, startForge, type TestForge } from "./support/forge.ts";
import { waitFor } from "./support/wait.ts";

/**
 * Each system of the engine built alone from the resources it shares with the others
 * (engine/resources.ts), against a real database: what it does, without a scheduler or a
 * worker around it.
 */

function resourcesOf(forge: TestForge, tunables: Partial<EngineTunables> = {}): EngineResources {
  const shared = forge.app.forge.resources;
  return { ...shared, tunables: { ...shared.tunables, ...tunables } };
}

async function createRuns(forge: TestForge, priorities: number[]): Promise<string[]> {
  const ids: string[] = [];
  for (const [i, priority] of priorities.entries()) ids.push((await forge.app.forge.createRun(runInput({ id: `r${i}`, priority }))).id);
  return ids;
}

describe("the claim system", () => {
  it("takes due runs in pick order under one owner, and counts the due runs another owner holds", async () => {
    const forge = await startForge();
    await createRuns(forge, [0, 5, 3]);
    const claim = new ClaimSystem(resourcesOf(forge));
    const first = await claim.claim(2, "a", true);
    expect(first.claims.map((c) => [c.runId, c.epoch])).toEqual([
      ["r1", 1],
      ["r2", 1],
    ]);
    const second = await claim.claim(5, "b", true);
    expect(second.claims.map((c) => c.runId)).toEqual(["r0"]);
    expect(second.skippedLeased).toBe(2);
    const rows = await forge.app.forge.db.read.run.findMany({ orderBy: { id: "asc" }, select: { id: true, leaseOwner: true } });
    expect(rows).toEqual([
      { id: "r0", leaseOwner: "b" },
      { id: "r1", leaseOwner: "a" },
      { id: "r2", leaseOwner: "a" },
    ]);
    await forge.app.forge.db.write((tx) => tx.$executeRaw`UPDATE runs SET lease_owner = NULL, lease_expires_at = NULL`);
  });
});

describe("the lease keeper", () => {
  it("renews the leases of the runs still pending, and reports a run whose lease was taken away; stop() schedules no renewal after it", async () => {
    const forge = await startForge();
    const [id] = await createRuns(forge, [0]);
    // A 30 ms lease is renewed every 10 ms (a third of it).
    const resources = resourcesOf(forge, { leaseMs: 30 });
    const { claims } = await new ClaimSystem(resources).claim(1, "keeper-test", false);
    const keeper = new LeaseKeeper(resources);
    expect(keeper.intervalMs).toBe(10);
    const expiry = async () => (await findRun(forge.app.forge.db, id as string))?.leaseExpiresAt?.getTime();
    const claimedUntil = await expiry();
    const lost: Array<[number, string]> = [];
    const kept = keeper.keep(
      "keeper-test",
      claims,
      () => [0],
      (i, reason) => lost.push([i, reason.message]),
    );
    (forge.clock as TestClock).advance(1000);
    await waitFor(async () => (await expiry()) === forge.clock.now().getTime() + 30, "the lease renewed from the clock's new time");
    expect(claimedUntil).toBeLessThan((await expiry()) as number);
    expect(lost).toEqual([]);
    // Cancelling takes the lease over (epoch + 1): the next renewal finds it gone.
    await forge.app.forge.cancelRun(id as string);
    await waitFor(() => lost.length > 0, "the lost lease reported");
    expect(lost[0]).toEqual([0, `run "${id}" was cancelled or its lease was taken over`]);
    // A renewal already in flight when stop() is called may still report; none starts after it.
    kept.stop();
    const reported = lost.length;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(lost.length).toBe(reported);
  });
});

describe("the commit pipeline", () => {
  it("commits a run's change fenced by its lease, gives the lease back, wakes the feed and counts; a failed advance is a counted refusal", async () => {
    // The feed polls once an hour here: only the pipeline's wake-up can bring it the events soon.
    const forge = await startForge({ feedPollMs: 3_600_000 });
    await createRuns(forge, [1, 0]);
    const resources = resourcesOf(forge);
    const { claims } = await new ClaimSystem(resources).claim(2, "pipeline-test", false);
    const [good, bad] = claims;
    if (!good || !bad) throw new Error("two claims expected");
    const advanced = await advanceRun(good.run, good.steps, {
      clock: resources.clock,
      registry: resources.registry,
      owner: "pipeline-test",
      epoch: good.epoch,
      stepBudget: resources.tunables.stepBudget,
      stepConcurrency: resources.tunables.stepConcurrency,
      artifactMaxBytes: resources.tunables.artifactMaxBytes,
      signal: new AbortController().signal,
      metrics: resources.metrics,
      trace: null,
    });
    const seen: number[] = [];
    const unsubscribe = resources.feed.subscribe((events) => seen.push(...events.map((e) => e.id)));
    await resources.feed.flush(); // the two run_created events, read on subscribing
    const before = resources.feed.lastId;
    seen.length = 0;
    const result = await new CommitPipeline(resources).commit(
      "pipeline-test",
      [
        { claim: good, advanced },
        { claim: bad, error: new Error("its advance failed") },
      ],
      0,
    );
    expect(result).toEqual({ ticked: 1, succeeded: 1, failed: 0, skippedLeased: 0, runIds: [good.runId] });
    const db = forge.app.forge.db;
    const rows = await db.read.run.findMany({
      orderBy: { id: "asc" },
      select: { id: true, status: true, leaseOwner: true, commitFailures: true },
    });
    expect(rows).toEqual([
      { id: good.runId, status: "SUCCEEDED", leaseOwner: null, commitFailures: 0 },
      { id: bad.runId, status: "PENDING", leaseOwner: null, commitFailures: 1 },
    ]);
    // The feed was woken: the run's four new events reach its listeners without a poll.
    await waitFor(() => seen.length === 4, "the committed events handed to the feed's listeners");
    expect(resources.feed.lastId).toBe(before + 4);
    unsubscribe();
  });
});

describe("the attempt boundary", () => {
  it("turns what a handler returns into a storable result, and an unstorable one into a failed attempt saying why", async () => {
    const forge = await startForge();
    const resources = forge.app.forge.resources;
    resources.registry.register({ type: "returns-bigint", run: async () => ({ n: 10n }) });
    const run = await forge.app.forge.createRun(runInput({ id: "b", graph: { steps: { s: { type: "returns-bigint" } } } }));
    const [step] = await findSteps(forge.app.forge.db, [run.id]);
    if (!step) throw new Error("a step expected");
    const attempt = (type: string) =>
      runAttempt(run, { ...step, type, attempts: 1 }, {}, null, {
        clock: resources.clock,
        registry: resources.registry,
        signal: new AbortController().signal,
        artifactMaxBytes: resources.tunables.artifactMaxBytes,
      });
    expect(await attempt("noop")).toEqual({ status: "succeeded", output: null, artifacts: [], seconds: expect.any(Number) });
    expect(await attempt("returns-bigint")).toEqual({
      status: "failed",
      error: expect.stringMatching(/BigInt/),
      permanent: expect.any(Boolean),
      seconds: expect.any(Number),
    });
  });
});
