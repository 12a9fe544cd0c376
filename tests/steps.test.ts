import { describe, expect, it } from "vitest";
import { TestClock } from "../src/clock.ts";
import { fail } from "../src/engine/steps/fail.ts";
import { noop } from "../src/engine/steps/noop.ts";
import type { StepHandler } from "../src/engine/steps/registry.ts";
import { StepRegistry } from "../src/engine/steps/registry.ts";
import { sleep } from "../src/engine/steps/sleep.ts";
import { freshDbUrl, runInput, startForge, type TestForge } from "./support/forge.ts";
import { waitFor } from "./support/wait.ts";

/** Retries with backoff, timeouts, failure propagation and durable timers, on a test clock. */
async function events(forge: TestForge, runId: string) {
  return (await forge.app.forge.runEvents(runId, 0, 1000)).map((e) => ({ type: e.type, stepId: e.stepId, data: e.data }));
}

describe("step semantics", () => {
  it("retries a failing step with exponential backoff, durable wake times and step_retrying events", async () => {
    const clock = new TestClock("2026-03-01T00:00:00.000Z");
    const forge = await startForge({ clock });
    const run = await forge.app.forge.createRun(
      runInput({
        graph: {
          steps: {
            flaky: { type: "fail", params: { message: "boom", times: 2 }, retry: { maxAttempts: 3, backoffMs: 1000, backoffFactor: 2 } },
          },
        },
      }),
    );
    expect((await forge.app.forge.tickOnce(10)).ticked).toBe(1);
    expect((await forge.app.forge.getRun(run.id))?.wakeAt).toEqual(new Date("2026-03-01T00:00:01.000Z"));
    clock.advance(999);
    expect((await forge.app.forge.tickOnce(10)).ticked).toBe(0); // not due yet: no lease taken, nothing written
    clock.advance(1);
    expect((await forge.app.forge.tickOnce(10)).ticked).toBe(1);
    clock.advance(2000); // the second wait doubles
    const last = await forge.app.forge.tickOnce(10);
    expect(last.succeeded).toBe(1);
    expect(await events(forge, run.id)).toEqual([
      { type: "run_created", stepId: null, data: null },
      { type: "run_started", stepId: null, data: null },
      { type: "step_started", stepId: "flaky", data: { attempt: 1 } },
      { type: "step_retrying", stepId: "flaky", data: { attempt: 1, error: "boom", nextAttemptAt: "2026-03-01T00:00:01.000Z" } },
      { type: "step_started", stepId: "flaky", data: { attempt: 2 } },
      { type: "step_retrying", stepId: "flaky", data: { attempt: 2, error: "boom", nextAttemptAt: "2026-03-01T00:00:03.000Z" } },
      { type: "step_started", stepId: "flaky", data: { attempt: 3 } },
      { type: "step_succeeded", stepId: "flaky", data: { attempt: 3 } },
      { type: "run_succeeded", stepId: null, data: null },
    ]);
    const [step] = await forge.app.forge.steps([run.id]);
    expect(step).toMatchObject({ status: "SUCCEEDED", attempts: 3, error: null, wakeAt: null });
  });

  it("a step that fails for good skips its dependents, lets independent branches finish, and fails the run", async () => {
    const forge = await startForge();
    const run = await forge.app.forge.createRun(
      runInput({
        graph: {
          steps: {
            a: { type: "noop" },
            b: { type: "fail", deps: ["a"], params: { message: "broken" }, retry: { maxAttempts: 2, backoffMs: 0 } },
            c: { type: "noop", deps: ["a"] },
            d: { type: "noop", deps: ["b", "c"] },
            e: { type: "noop", deps: ["d"] },
            other: { type: "noop" },
            other2: { type: "noop", deps: ["other"] },
          },
        },
      }),
    );
    expect((await forge.app.forge.tickOnce(10)).failed).toBe(1);
    const steps = Object.fromEntries((await forge.app.forge.steps([run.id])).map((s) => [s.id, s.status]));
    expect(steps).toEqual({
      a: "SUCCEEDED",
      b: "FAILED",
      c: "SUCCEEDED",
      d: "SKIPPED",
      e: "SKIPPED",
      other: "SUCCEEDED",
      other2: "SUCCEEDED",
    });
    const log = await events(forge, run.id);
    // A zero backoff retries within the same tick.
    expect(log.filter((e) => e.stepId === "b").map((e) => e.type)).toEqual([
      "step_started",
      "step_retrying",
      "step_started",
      "step_failed",
    ]);
    expect(log.at(-1)).toEqual({ type: "run_failed", stepId: null, data: { failedSteps: ["b"] } });
    expect((await forge.app.forge.getRun(run.id))?.status).toBe("FAILED");
  });

  it("aborts an attempt that exceeds timeoutMs (its AbortSignal fires) and counts it as failed", async () => {
    const clock = new TestClock();
    const aborted: unknown[] = [];
    const started: string[] = [];
    const hang: StepHandler = {
      type: "hang",
      run: (ctx) =>
        new Promise((_, reject) => {
          started.push(ctx.stepId);
          ctx.signal.addEventListener("abort", () => {
            aborted.push(ctx.signal.reason);
            reject(ctx.signal.reason);
          });
        }),
    };
    const forge = await startForge({ clock, registry: new StepRegistry([noop, sleep, fail, hang]) });
    const run = await forge.app.forge.createRun(runInput({ graph: { steps: { slow: { type: "hang", timeoutMs: 5000 } } } }));
    const tick = forge.app.forge.tickOnce(10);
    await waitFor(() => started.length === 1, "the attempt to start");
    clock.advance(4999);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(aborted).toEqual([]);
    clock.advance(1);
    expect((await tick).failed).toBe(1);
    expect(aborted).toHaveLength(1);
    const [step] = await forge.app.forge.steps([run.id]);
    expect(step).toMatchObject({ status: "FAILED", attempts: 1, error: "timed out after 5000 ms" });
  });

  it("a sleep waits without a lease and wakes at the right tick after a restart", async () => {
    const dbUrl = freshDbUrl();
    const clock = new TestClock("2026-03-01T00:00:00.000Z");
    const before = await startForge({ dbUrl, clock });
    const run = await before.app.forge.createRun(
      runInput({ graph: { steps: { nap: { type: "sleep", params: { ms: 60_000 } }, after: { type: "noop", deps: ["nap"] } } } }),
    );
    await before.app.forge.tickOnce(10);
    const waiting = await before.app.forge.getRun(run.id);
    expect(waiting).toMatchObject({ status: "RUNNING", leaseOwner: null, wakeAt: new Date("2026-03-01T00:01:00.000Z") });
    expect((await before.app.forge.steps([run.id]))[0]).toMatchObject({ id: "nap", status: "WAITING" });
    await before.stop();

    // A new process, a minute less a millisecond later: not yet.
    const later = new TestClock("2026-03-01T00:00:59.999Z");
    const after = await startForge({ dbUrl, clock: later });
    expect((await after.app.forge.tickOnce(10)).ticked).toBe(0);
    later.advance(1);
    expect((await after.app.forge.tickOnce(10)).succeeded).toBe(1);
    expect((await events(after, run.id)).map((e) => e.type)).toEqual([
      "run_created",
      "run_started",
      "step_started",
      "step_waiting",
      "step_succeeded",
      "step_started",
      "step_succeeded",
      "run_succeeded",
    ]);
  });

  it("fans out: ready steps of a run run concurrently within a tick, and fan-in waits for all of them", async () => {
    let started = 0;
    // Each of the two branches finishes only once both have started: run one after the
    // other, the first would time out waiting for the second.
    const meet: StepHandler = {
      type: "meet",
      run: async () => {
        started++;
        const deadline = Date.now() + 5000;
        while (started < 2) {
          if (Date.now() > deadline) throw new Error("the other branch never started");
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        return { started };
      },
    };
    const forge = await startForge({ registry: new StepRegistry([noop, sleep, fail, meet]) });
    const run = await forge.app.forge.createRun(
      runInput({ graph: { steps: { left: { type: "meet" }, right: { type: "meet" }, join: { type: "noop", deps: ["left", "right"] } } } }),
    );
    expect((await forge.app.forge.tickOnce(10)).succeeded).toBe(1);
    const order = (await events(forge, run.id)).filter((e) => e.type.startsWith("step_")).map((e) => `${e.type}:${e.stepId}`);
    expect(order).toEqual([
      "step_started:left",
      "step_started:right",
      "step_succeeded:left",
      "step_succeeded:right",
      "step_started:join",
      "step_succeeded:join",
    ]);
  });

  it("the worker wakes when a retry's backoff ends, not at its idle interval", async () => {
    const clock = new TestClock();
    // An idle interval far longer than the backoff: only the run's wake time can bring the worker back in time.
    const forge = await startForge({ clock, env: { FORGE_WORKER_ENABLED: "true", FORGE_TICK_INTERVAL_MS: "600000" } });
    const run = await forge.app.forge.createRun(
      runInput({ graph: { steps: { flaky: { type: "fail", params: { times: 1 }, retry: { maxAttempts: 2, backoffMs: 2000 } } } } }),
    );
    await waitFor(async () => (await forge.app.forge.steps([run.id]))[0]?.status === "WAITING", "the first attempt to fail");
    await waitFor(() => clock.sleeping > 0, "the worker to go to sleep");
    clock.advance(2000);
    await waitFor(async () => (await forge.app.forge.getRun(run.id))?.status === "SUCCEEDED", "the retry to run");
  });
});
