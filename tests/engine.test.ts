import { describe, expect, it } from "vitest";
import { noop } from "../src/engine/steps/noop.ts";
import { StepRegistry } from "../src/engine/steps/registry.ts";
import { CancelRun, CreateRun, GetRun, TickOnce } from "./support/documents.ts";
import { chain, ISO_MS, runInput, startForge } from "./support/forge.ts";

describe("tick engine", () => {
  it("a noop graph of any depth is terminal after exactly one tick", async () => {
    const forge = await startForge();
    const deep = (await forge.gql(CreateRun, { input: runInput({ graph: chain(500) }) })).data?.createRun.id as string;
    const wide = (
      await forge.gql(CreateRun, {
        input: runInput({ graph: { steps: Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`w${i}`, { type: "noop" }])) } }),
      })
    ).data?.createRun.id as string;
    const tick = (await forge.gql(TickOnce, { limit: 10 })).data?.tickOnce;
    expect(tick).toMatchObject({ ticked: 2, succeeded: 2 });
    for (const id of [deep, wide]) {
      const run = (await forge.gql(GetRun, { id, first: 1000 })).data?.run;
      expect(run?.status).toBe("SUCCEEDED");
      expect(run?.steps.every((s) => s.status === "SUCCEEDED" && s.attempts === 1)).toBe(true);
    }
    expect((await forge.gql(TickOnce, { limit: 10 })).data?.tickOnce.ticked).toBe(0);
  });

  it("a dense graph (every step depending on the 16 before it) finishes in one tick", async () => {
    const forge = await startForge();
    const steps: Record<string, { type: string; deps: string[] }> = {};
    for (let i = 0; i < 1000; i++)
      steps[`s${i}`] = { type: "noop", deps: Array.from({ length: Math.min(i, 16) }, (_, k) => `s${i - k - 1}`) };
    const id = (await forge.gql(CreateRun, { input: runInput({ graph: { steps } }) })).data?.createRun.id as string;
    expect((await forge.gql(TickOnce, {})).data?.tickOnce).toMatchObject({ ticked: 1, succeeded: 1 });
    const run = (await forge.gql(GetRun, { id, first: 1000 })).data?.run;
    expect(run?.steps.every((s) => s.status === "SUCCEEDED")).toBe(true);
    // Each step waits for the one before it, so they ran one at a time, in order.
    const started = run?.events.filter((e) => e.type === "step_started").map((e) => e.stepId) ?? [];
    expect(started).toEqual(started.map((_, i) => `s${i}`));
  });

  it("steps come back in topological order, then by id, and run in that order", async () => {
    const forge = await startForge();
    const graph = {
      steps: {
        z: { type: "noop", deps: ["b", "a"] },
        b: { type: "noop", deps: ["root"] },
        a: { type: "noop", deps: ["root"] },
        root: { type: "noop" },
        c: { type: "noop" },
      },
    };
    const id = (await forge.gql(CreateRun, { input: runInput({ graph }) })).data?.createRun.id as string;
    await forge.gql(TickOnce, {});
    const run = (await forge.gql(GetRun, { id })).data?.run;
    expect(run?.steps.map((s) => s.stepId)).toEqual(["c", "root", "a", "b", "z"]);
    const started = run?.events.filter((e) => e.type === "step_started").map((e) => e.stepId);
    // Fan-out: c and root are ready together, then a and b, then the fan-in z.
    expect(started).toEqual(["c", "root", "a", "b", "z"]);
  });

  it("every timestamp the API returns is UTC ISO-8601 with milliseconds", async () => {
    const forge = await startForge();
    const id = (await forge.gql(CreateRun, { input: runInput() })).data?.createRun.id as string;
    await forge.gql(TickOnce, {});
    const run = (await forge.gql(GetRun, { id })).data?.run;
    const stamps = [
      run?.createdAt,
      run?.updatedAt,
      run?.startedAt,
      run?.finishedAt,
      ...(run?.steps ?? []).flatMap((s) => [s.startedAt, s.finishedAt]),
      ...(run?.events ?? []).map((e) => e.createdAt),
    ];
    expect(stamps).toHaveLength(11);
    for (const stamp of stamps) expect(stamp).toMatch(ISO_MS);
  });

  it("events come back in seq order however they were inserted", async () => {
    const forge = await startForge();
    const id = (await forge.gql(CreateRun, { input: runInput() })).data?.createRun.id as string;
    const db = forge.app.forge.db;
    // Append seq 4, 2, 3 in that order, so that id order and seq order disagree.
    await db.write(async (tx) => {
      for (const seq of [4, 2, 3]) {
        await tx.$executeRaw`INSERT INTO events (run_id, seq, type, created_at) VALUES (${id}, ${seq}, ${`note_${seq}`}, ${new Date()})`;
      }
    });
    const events = (await forge.gql(GetRun, { id })).data?.run?.events ?? [];
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(events.map((e) => e.type)).toEqual(["run_created", "note_2", "note_3", "note_4"]);
    const page = (await forge.gql(GetRun, { id, afterSeq: 1, first: 2 })).data?.run?.events ?? [];
    expect(page.map((e) => e.seq)).toEqual([2, 3]);
  });

  it("atomicity: a failure between a state change and its event leaves neither visible", async () => {
    const forge = await startForge();
    const victim = (await forge.gql(CreateRun, { input: runInput() })).data?.createRun.id as string;
    const other = (await forge.gql(CreateRun, { input: runInput() })).data?.createRun.id as string;
    // Occupy the seq the tick will give `run_started`, so that appending it fails after
    // the run and step rows were already updated in the same transaction.
    await forge.app.forge.db.write(
      (tx) => tx.$executeRaw`INSERT INTO events (run_id, seq, type, created_at) VALUES (${victim}, 2, 'intruder', ${new Date()})`,
    );
    const tick = (await forge.gql(TickOnce, { limit: 10 })).data?.tickOnce;
    // The other run is not held back by the victim's failure.
    expect(tick).toMatchObject({ ticked: 1, runIds: [other] });

    const run = (await forge.gql(GetRun, { id: victim })).data?.run;
    expect(run?.status).toBe("PENDING");
    expect(run?.startedAt).toBeNull();
    expect(run?.steps.map((s) => [s.status, s.attempts])).toEqual([["PENDING", 0]]);
    expect(run?.events.map((e) => e.type)).toEqual(["run_created", "intruder"]);
    expect(run?.eventCount).toBe(1);
    expect(run?.lease).toBeNull();
    expect((await forge.gql(GetRun, { id: other })).data?.run?.status).toBe("SUCCEEDED");
  });

  it("a step that fails skips its dependents, lets independent branches finish, and fails the run", async () => {
    const registry = new StepRegistry([
      noop,
      {
        type: "boom",
        run: () => {
          throw new Error("exploded on purpose");
        },
      },
    ]);
    const forge = await startForge({ registry });
    const graph = {
      steps: {
        root: { type: "noop" },
        bad: { type: "boom", deps: ["root"] },
        after: { type: "noop", deps: ["bad"] },
        later: { type: "noop", deps: ["after"] },
        side: { type: "noop", deps: ["root"] },
      },
    };
    const id = (await forge.gql(CreateRun, { input: runInput({ graph }) })).data?.createRun.id as string;
    const tick = (await forge.gql(TickOnce, {})).data?.tickOnce;
    expect(tick).toMatchObject({ ticked: 1, succeeded: 0, failed: 1 });
    const run = (await forge.gql(GetRun, { id })).data?.run;
    expect(run?.status).toBe("FAILED");
    expect(Object.fromEntries((run?.steps ?? []).map((s) => [s.stepId, s.status]))).toEqual({
      root: "SUCCEEDED",
      bad: "FAILED",
      side: "SUCCEEDED",
      after: "SKIPPED",
      later: "SKIPPED",
    });
    expect(run?.steps.find((s) => s.stepId === "bad")?.error).toBe("exploded on purpose");
    const last = run?.events.at(-1);
    expect(last?.type).toBe("run_failed");
    expect(last?.data).toEqual({ failedSteps: ["bad"] });
  });

  it("a step whose output cannot be stored as JSON fails with the reason instead of poisoning the tick", async () => {
    const registry = new StepRegistry([noop, { type: "bigint", run: () => ({ n: 10n }) }]);
    const forge = await startForge({ registry });
    const bad = (await forge.gql(CreateRun, { input: runInput({ graph: { steps: { a: { type: "bigint" } } } }) })).data?.createRun
      .id as string;
    const good = (await forge.gql(CreateRun, { input: runInput() })).data?.createRun.id as string;
    const tick = (await forge.gql(TickOnce, {})).data?.tickOnce;
    expect(tick).toMatchObject({ ticked: 2, succeeded: 1, failed: 1 });
    const run = (await forge.gql(GetRun, { id: bad })).data?.run;
    expect(run?.status).toBe("FAILED");
    expect(run?.steps[0]?.error).toMatch(/^step output is not JSON-serializable: /);
    expect((await forge.gql(GetRun, { id: good })).data?.run?.status).toBe("SUCCEEDED");
  });

  it("the lease is visible while a tick holds it, with owner, epoch and expiry", async () => {
    const forge = await startForge({ env: { FORGE_LEASE_MS: "30000" } });
    const id = (await forge.gql(CreateRun, { input: runInput() })).data?.createRun.id as string;
    const batch = await forge.app.forge.scheduler.claim(1, "ticker-under-test");
    const run = (await forge.gql(GetRun, { id })).data?.run;
    expect(run?.lease).toEqual({ owner: "ticker-under-test", epoch: 1, expiresAt: "2026-01-01T00:00:30.000Z" });
    await batch.commit(await batch.advance(new AbortController().signal));
    expect((await forge.gql(GetRun, { id })).data?.run?.lease).toBeNull();
  });
});

describe("cancelRun", () => {
  it("cancels a pending run: pending steps CANCELLED, run_cancelled last", async () => {
    const forge = await startForge();
    const id = (await forge.gql(CreateRun, { input: runInput({ graph: chain(3) }) })).data?.createRun.id as string;
    const cancelled = (await forge.gql(CancelRun, { id })).data?.cancelRun;
    expect(cancelled?.status).toBe("CANCELLED");
    expect(cancelled?.steps.map((s) => s.status)).toEqual(["CANCELLED", "CANCELLED", "CANCELLED"]);
    const run = (await forge.gql(GetRun, { id })).data?.run;
    expect(run?.events.map((e) => e.type)).toEqual(["run_created", "step_cancelled", "step_cancelled", "step_cancelled", "run_cancelled"]);
    expect(run?.finishedAt).toMatch(ISO_MS);
    expect((await forge.gql(TickOnce, {})).data?.tickOnce.ticked).toBe(0);
  });

  it("returns a terminal run unchanged", async () => {
    const forge = await startForge();
    const id = (await forge.gql(CreateRun, { input: runInput() })).data?.createRun.id as string;
    await forge.gql(TickOnce, {});
    const before = (await forge.gql(GetRun, { id })).data?.run;
    const after = (await forge.gql(CancelRun, { id })).data?.cancelRun;
    expect(after?.status).toBe("SUCCEEDED");
    expect((await forge.gql(GetRun, { id })).data?.run).toEqual(before);
  });

  it("fences out a ticker that holds the run's lease", async () => {
    const forge = await startForge();
    const id = (await forge.gql(CreateRun, { input: runInput() })).data?.createRun.id as string;
    const batch = await forge.app.forge.scheduler.claim(1, "slow-ticker");
    const work = await batch.advance(new AbortController().signal);
    expect((await forge.gql(CancelRun, { id })).data?.cancelRun.status).toBe("CANCELLED");
    expect((await batch.commit(work)).ticked).toBe(0);
    const run = (await forge.gql(GetRun, { id })).data?.run;
    expect(run?.status).toBe("CANCELLED");
    expect(run?.events.map((e) => e.type)).toEqual(["run_created", "step_cancelled", "run_cancelled"]);
  });

  it("answers NOT_FOUND for an unknown run", async () => {
    const forge = await startForge();
    const result = await forge.gql(CancelRun, { id: "nope" });
    expect(result.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    expect(result.errors?.[0]?.message).toBe('run "nope" does not exist');
  });
});
