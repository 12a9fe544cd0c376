import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { systemClock, TestClock } from "../src/clock.ts";
import { ENGINE_DEFAULTS } from "../src/config.ts";

const { commitBudget: COMMIT_BUDGET, refusedRetryMs: REFUSED_RETRY_MS } = ENGINE_DEFAULTS;

import { defaultRegistry } from "../src/engine/steps/index.ts";
import type { StepContext, StepHandler } from "../src/engine/steps/registry.ts";
import { dialect, runInput, startForge, type TestForge } from "./support/forge.ts";
import { waitFor } from "./support/wait.ts";

/**
 * Nothing stuck (API.md, "Robustness rules"): whatever a step handler returns, throws or
 * passes to a wait, the run ends or goes on, and the runs beside it in the tick commit
 * with it. What cannot be stored fails the attempt with a reason; error text is stored
 * sanitized; a run whose changes the database keeps refusing is FAILED after a bounded
 * number of tries, running its steps no more often than that.
 */
const calls = new Map<string, number>();

function handler(type: string, run: (ctx: StepContext) => unknown): StepHandler {
  return {
    type,
    run: (ctx) => {
      calls.set(`${ctx.runId}/${ctx.stepId}`, (calls.get(`${ctx.runId}/${ctx.stepId}`) ?? 0) + 1);
      return run(ctx);
    },
  };
}

const cyclic = () => {
  const value: Record<string, unknown> = { name: "loop" };
  value.self = value;
  return value;
};
const nested = (depth: number) => {
  let value: unknown = "leaf";
  for (let i = 0; i < depth; i++) value = { inner: value };
  return value;
};

/** Each poison: what the handler does, and the error the step must end with. */
const POISONS: Array<{ type: string; run: (ctx: StepContext) => unknown; error: string | RegExp }> = [
  { type: "bigint-output", run: () => ({ n: 10n }), error: "step output is not JSON-serializable: Do not know how to serialize a BigInt" },
  { type: "cyclic-output", run: cyclic, error: /^step output is not JSON-serializable: Converting circular structure to JSON/ },
  {
    type: "surrogate-output",
    run: () => ({ note: "half a pair: \ud800" }),
    error: "step output.note contains a lone UTF-16 surrogate (not well-formed Unicode)",
  },
  {
    type: "nul-output",
    run: () => ["ok", { "a\u0000b": 1 }],
    error: 'step output[1]["a\\u0000b"] has a key that contains a NUL character (U+0000)',
  },
  { type: "deep-output", run: () => nested(100), error: /^step output(\.inner)+ is nested more than 64 levels deep$/ },
  {
    type: "huge-output",
    run: () => "x".repeat(2 * 1024 * 1024),
    error: /^step output is 2097154 bytes of JSON, over the limit of 1048576/,
  },
  {
    type: "surrogate-error",
    run: () => {
      throw new Error("lost \udc00 half and a \u0000 nul");
    },
    error: "lost \ufffd half and a \ufffd nul",
  },
  {
    type: "unprintable-throw",
    run: () => {
      throw {
        toString() {
          throw new Error("no text either");
        },
      };
    },
    error: "an object that cannot be turned into text",
  },
  { type: "huge-error", run: () => Promise.reject(new Error("e".repeat(100_000))), error: /^e{4096}\.\.\. \(95904 more characters\)$/ },
  { type: "invalid-date", run: (ctx) => ctx.waitUntil(new Date(Number.NaN)), error: "waitUntil needs a valid Date, got an invalid Date" },
  { type: "not-a-date", run: (ctx) => ctx.waitUntil("tomorrow" as unknown as Date), error: "waitUntil needs a valid Date, got string" },
  {
    type: "far-wait",
    run: (ctx) => ctx.waitUntil(new Date(ctx.now.getTime() + 400 * 86_400_000)),
    error: /^waitUntil\(.*\) is more than 366 days away$/,
  },
  {
    type: "bigint-signal-data",
    run: (ctx) => ctx.waitForSignal({ when: 5n }),
    error: "waitForSignal data is not JSON-serializable: Do not know how to serialize a BigInt",
  },
  {
    type: "surrogate-signal-data",
    run: (ctx) => ctx.waitForSignal({ prompt: "\udfff" }),
    error: "waitForSignal data.prompt contains a lone UTF-16 surrogate (not well-formed Unicode)",
  },
  {
    type: "surrogate-artifact-name",
    run: (ctx) => ctx.writeArtifact({ name: "report\ud800.txt", content: "fine" }),
    error: 'artifact "report\ufffd.txt": `name` contains a lone UTF-16 surrogate (not well-formed Unicode)',
  },
  {
    type: "revoked-proxy-throw",
    run: () => {
      const { proxy, revoke } = Proxy.revocable({}, {});
      revoke();
      throw proxy;
    },
    error: "a value that cannot be inspected that cannot be turned into text",
  },
  {
    type: "date-subclass-wait",
    run: (ctx) => {
      // A Date whose getTime lies: what is checked must be what is stored.
      class LyingDate extends Date {
        override getTime() {
          return Date.now() + 1000;
        }
      }
      return ctx.waitUntil(new LyingDate(Number.NaN));
    },
    error: "waitUntil needs a valid Date, got an invalid Date",
  },
  {
    type: "too-many-artifacts",
    run: (ctx) => {
      for (let i = 0; i <= 100; i++) ctx.writeArtifact({ name: `a${i}`, content: "x" });
    },
    error: 'artifact "a100": an attempt may write at most 100 artifacts',
  },
  {
    type: "to-json-signal-data",
    run: (ctx) => ctx.waitForSignal({ toJSON: () => [1, 2] } as unknown as Record<string, unknown>),
    error: "waitForSignal data must be an object, got an array",
  },
  {
    type: "nul-artifact-content",
    run: (ctx) => ctx.writeArtifact({ name: "log.txt", content: "line1\u0000line2" }),
    error: 'artifact "log.txt": `content` contains a NUL character (U+0000)',
  },
];

function poisonRegistry() {
  return defaultRegistry([...POISONS.map((p) => handler(p.type, p.run)), handler("counted", () => ({ fine: true }))]);
}

async function stepOf(forge: TestForge, runId: string, stepId: string) {
  return (await forge.app.forge.steps([runId])).find((s) => s.id === stepId);
}

describe("nothing stuck: what a handler produces", () => {
  it("every unstorable result fails its attempt with the reason, once, in the same commit as the healthy runs beside it", async () => {
    calls.clear();
    const forge = await startForge({ registry: poisonRegistry() });
    const poisoned = await forge.app.forge.createRuns(
      POISONS.map((p) =>
        runInput({ jobType: p.type, graph: { steps: { bad: { type: p.type }, after: { type: "noop", deps: ["bad"] } } } }),
      ),
    );
    const healthy = await forge.app.forge.createRuns(
      Array.from({ length: 20 }, () => runInput({ graph: { steps: { ok: { type: "counted" } } } })),
    );
    const commits = forge.app.forge.db.commits;
    const tick = await forge.app.forge.tickOnce(100);
    // One claim and one commit for every run: no run was refused, none held the others back.
    const refusedRuns = await forge.app.forge.db.read.run.findMany({ where: { commitFailures: { gt: 0 } }, select: { jobType: true } });
    expect(refusedRuns).toEqual([]);
    expect(forge.app.forge.db.commits - commits).toBe(2);
    expect(tick).toMatchObject({ ticked: POISONS.length + 20, failed: POISONS.length, succeeded: 20 });
    for (const [i, poison] of POISONS.entries()) {
      const run = poisoned[i] as { id: string };
      const bad = await stepOf(forge, run.id, "bad");
      expect({ type: poison.type, status: bad?.status }).toEqual({ type: poison.type, status: "FAILED" });
      if (typeof poison.error === "string") expect(bad?.error).toBe(poison.error);
      else expect(bad?.error).toMatch(poison.error);
      expect((await stepOf(forge, run.id, "after"))?.status).toBe("SKIPPED");
      expect(calls.get(`${run.id}/bad`)).toBe(1);
      const failed = (await forge.app.forge.runEvents(run.id, 0, 100)).find((e) => e.type === "step_failed");
      expect(failed?.data).toEqual({ attempt: 1, error: bad?.error });
    }
    for (const run of healthy) {
      expect((await forge.app.forge.getRun(run.id))?.status).toBe("SUCCEEDED");
      expect((await stepOf(forge, run.id, "ok"))?.output).toEqual({ fine: true });
    }
    // No artifact of a failed attempt was stored.
    expect(await forge.app.forge.artifacts(poisoned.map((r) => r.id))).toEqual([]);
  });

  it("an unstorable result is retried by the step's retry policy like any failed attempt", async () => {
    calls.clear();
    const clock = new TestClock();
    const forge = await startForge({ clock, registry: poisonRegistry() });
    const run = await forge.app.forge.createRun(
      runInput({ graph: { steps: { bad: { type: "bigint-output", retry: { maxAttempts: 2, backoffMs: 1000 } } } } }),
    );
    await forge.app.forge.tickOnce(10);
    expect(await stepOf(forge, run.id, "bad")).toMatchObject({ status: "WAITING", attempts: 1 });
    clock.advance(1000);
    expect((await forge.app.forge.tickOnce(10)).failed).toBe(1);
    expect(calls.get(`${run.id}/bad`)).toBe(2);
  });

  it("a dependent step cannot change its dep's output, which is what gets committed", async () => {
    calls.clear();
    const registry = defaultRegistry([
      handler("source", () => ({ n: 1, note: "fine" })),
      handler("meddler", (ctx) => {
        (ctx.depOutputs.first as Record<string, unknown>).note = "\ud800";
        return null;
      }),
    ]);
    const forge = await startForge({ registry });
    const run = await forge.app.forge.createRun(
      runInput({ graph: { steps: { first: { type: "source" }, second: { type: "meddler", deps: ["first"] } } } }),
    );
    await forge.app.forge.tickOnce(10);
    expect((await stepOf(forge, run.id, "first"))?.output).toEqual({ n: 1, note: "fine" });
    expect((await stepOf(forge, run.id, "second"))?.error).toMatch(/^Cannot assign to read only property 'note'/);
    expect(calls.get(`${run.id}/first`)).toBe(1);
  });

  it("an artifact's fields are read once, and one written after its attempt ended is refused, not stored", async () => {
    const late: string[] = [];
    const registry = defaultRegistry([
      {
        type: "shifty",
        run: (ctx) => {
          let reads = 0;
          const input = {
            name: "report.txt",
            get content() {
              reads++;
              return reads === 1 ? "good" : "bad\u0000";
            },
          };
          ctx.writeArtifact(input);
          setImmediate(() => {
            try {
              ctx.writeArtifact({ name: "late.txt", content: "too late" });
            } catch (error) {
              late.push((error as Error).message);
            }
          });
          return null;
        },
      },
    ]);
    const forge = await startForge({ registry });
    const run = await forge.app.forge.createRun(runInput({ graph: { steps: { s: { type: "shifty" } } } }));
    await forge.app.forge.tickOnce(10);
    await new Promise((resolve) => setImmediate(resolve));
    const [artifact, ...others] = await forge.app.forge.artifacts([run.id]);
    expect(others).toEqual([]);
    expect(artifact).toMatchObject({ name: "report.txt", size: 4, sha256: createHash("sha256").update("good").digest("hex") });
    expect((await forge.app.forge.artifactContents([artifact?.id as number])).get(artifact?.id as number)).toBe("good");
    expect(late).toEqual(["writeArtifact was called after the attempt ended"]);
  });

  it("a dependent step sees the output as it was stored, in the tick that produced it", async () => {
    const seen: unknown[] = [];
    const registry = defaultRegistry([
      { type: "dated", run: () => ({ at: new Date("2026-05-01T00:00:00.000Z"), gone: undefined, keep: [1, undefined] }) },
      { type: "reader", run: (ctx) => seen.push(ctx.depOutputs.first) },
    ]);
    const forge = await startForge({ registry });
    const run = await forge.app.forge.createRun(
      runInput({ graph: { steps: { first: { type: "dated" }, second: { type: "reader", deps: ["first"] } } } }),
    );
    expect((await forge.app.forge.tickOnce(10)).succeeded).toBe(1);
    const stored = (await stepOf(forge, run.id, "first"))?.output;
    expect(stored).toEqual({ at: "2026-05-01T00:00:00.000Z", keep: [1, null] });
    expect(seen).toEqual([stored]);
  });
});

/**
 * A change the database itself refuses, made real with a trigger that rejects one run's
 * step updates (the attempt boundary leaves nothing else that could be refused).
 */
async function refuseStepsOf(forge: TestForge, runId: string): Promise<void> {
  await refuseSteps(forge, runId, "NEW.status = 'SUCCEEDED'");
}

/** A trigger that refuses the updates of `runId`'s steps that match `when` (SQL over NEW). */
async function refuseSteps(forge: TestForge, runId: string, when: string): Promise<void> {
  const db = forge.app.forge.db;
  if (dialect === "sqlite") {
    await db.write((tx) =>
      tx.$executeRawUnsafe(`CREATE TRIGGER refuse_poison BEFORE UPDATE ON steps
        WHEN NEW.run_id = '${runId}' AND ${when} BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END`),
    );
    return;
  }
  await db.write(async (tx) => {
    await tx.$executeRawUnsafe(`CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'refused by a test trigger'; END $$`);
    await tx.$executeRawUnsafe(`CREATE TRIGGER refuse_poison BEFORE UPDATE ON steps FOR EACH ROW
      WHEN (NEW.run_id = '${runId}' AND ${when}) EXECUTE FUNCTION refuse_poison()`);
  });
}

describe("nothing stuck: changes the database refuses", () => {
  it(`a run whose changes are refused is FAILED after ${COMMIT_BUDGET} tries, with data.reason, and the runs beside it commit at once`, async () => {
    calls.clear();
    const clock = new TestClock();
    const forge = await startForge({ clock, registry: poisonRegistry() });
    await forge.app.forge.createRun(runInput({ id: "poison", graph: { steps: { s: { type: "counted" } } } }));
    const others = await forge.app.forge.createRuns(
      Array.from({ length: 50 }, () => runInput({ graph: { steps: { s: { type: "counted" } } } })),
    );
    await refuseStepsOf(forge, "poison");

    // First tick: the batch commit fails, so every run is committed alone on a savepoint of
    // one more transaction: the 50 land with it, the poison is refused and counted.
    let commits = forge.app.forge.db.commits;
    const first = await forge.app.forge.tickOnce(100);
    expect(forge.app.forge.db.commits - commits).toBe(2); // the claim, and the transaction of runs committed alone
    expect(first).toMatchObject({ ticked: 50, succeeded: 50 });
    for (const run of others) expect((await forge.app.forge.getRun(run.id))?.status).toBe("SUCCEEDED");
    expect(await forge.app.forge.getRun("poison")).toMatchObject({ status: "PENDING", commitFailures: 1, leaseOwner: null });

    // Later ticks: the known refuser goes straight to the savepoint path; new runs take the fast path beside it.
    for (let failures = 2; failures <= COMMIT_BUDGET; failures++) {
      clock.advance(REFUSED_RETRY_MS * 2 ** (failures - 2)); // its retry is put off, doubling
      const fresh = await forge.app.forge.createRuns(
        Array.from({ length: 10 }, () => runInput({ graph: { steps: { s: { type: "counted" } } } })),
      );
      commits = forge.app.forge.db.commits;
      const tick = await forge.app.forge.tickOnce(100);
      const gaveUp = failures === COMMIT_BUDGET;
      expect(tick).toMatchObject({ ticked: gaveUp ? 11 : 10, succeeded: 10, failed: gaveUp ? 1 : 0 });
      expect(forge.app.forge.db.commits - commits).toBe(3); // the claim, the fast batch, and the poison alone
      for (const run of fresh) expect((await forge.app.forge.getRun(run.id))?.status).toBe("SUCCEEDED");
    }
    const failed = await forge.app.forge.getRun("poison");
    expect(failed).toMatchObject({ status: "FAILED", wakeAt: null, leaseOwner: null });
    // Its step ran once per try, and never again.
    expect(calls.get("poison/s")).toBe(COMMIT_BUDGET);
    clock.advance(60_000);
    expect((await forge.app.forge.tickOnce(100)).ticked).toBe(0);
    const events = await forge.app.forge.runEvents("poison", 0, 100);
    expect(events.map((e) => [e.type, e.stepId])).toEqual([
      ["run_created", null],
      ["step_skipped", "s"],
      ["run_failed", null],
    ]);
    expect(events.at(-1)?.data).toEqual({
      reason: expect.stringMatching(
        new RegExp(`^its changes could not be committed ${COMMIT_BUDGET} times in a row: .*refused by a test trigger`),
      ),
      failedSteps: [],
    });
  });

  it(`the budget is a hard limit: when even failing the run's steps is refused, the run is failed without them, and its steps ran ${COMMIT_BUDGET} times`, async () => {
    calls.clear();
    const clock = new TestClock();
    const forge = await startForge({ clock, registry: poisonRegistry() });
    await forge.app.forge.createRun(runInput({ id: "poison", graph: { steps: { s: { type: "counted" } } } }));
    await refuseSteps(forge, "poison", "NEW.status <> 'PENDING'"); // every change of its steps, giving up's too
    for (let i = 0; i < COMMIT_BUDGET + 5; i++) {
      await forge.app.forge.tickOnce(10);
      clock.advance(10 * 60_000);
    }
    expect(calls.get("poison/s")).toBe(COMMIT_BUDGET);
    expect(await forge.app.forge.getRun("poison")).toMatchObject({ status: "FAILED", wakeAt: null });
    expect((await stepOf(forge, "poison", "s"))?.status).toBe("PENDING"); // the database would not take its end
    const last = (await forge.app.forge.runEvents("poison", 0, 100)).at(-1);
    expect(last).toMatchObject({
      type: "run_failed",
      data: { reason: expect.stringContaining("refused by a test trigger"), failedSteps: [] },
    });
  });

  it("when the run itself cannot be failed either, it is no longer picked: its steps never run again", async () => {
    calls.clear();
    const clock = new TestClock();
    const forge = await startForge({ clock, registry: poisonRegistry() });
    await forge.app.forge.createRun(runInput({ id: "poison", graph: { steps: { s: { type: "counted" } } } }));
    await refuseSteps(forge, "poison", "NEW.status <> 'PENDING'");
    const db = forge.app.forge.db;
    await db.write((tx) =>
      dialect === "sqlite"
        ? tx.$executeRawUnsafe(`CREATE TRIGGER refuse_failing BEFORE UPDATE OF status ON runs WHEN NEW.id = 'poison' AND NEW.status = 'FAILED'
            BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END`)
        : tx.$executeRawUnsafe(`CREATE TRIGGER refuse_failing BEFORE UPDATE OF status ON runs FOR EACH ROW
            WHEN (NEW.id = 'poison' AND NEW.status = 'FAILED') EXECUTE FUNCTION refuse_poison()`),
    );
    for (let i = 0; i < COMMIT_BUDGET + 5; i++) {
      await forge.app.forge.tickOnce(10);
      clock.advance(10 * 60_000);
    }
    expect(calls.get("poison/s")).toBe(COMMIT_BUDGET);
    expect(await forge.app.forge.getRun("poison")).toMatchObject({ status: "PENDING", wakeAt: null, commitFailures: COMMIT_BUDGET });
  });

  it.runIf(dialect === "postgres")(
    "a refusal about the database's state (a lock that timed out) puts the run off without counting against it",
    async () => {
      calls.clear();
      const clock = new TestClock();
      const forge = await startForge({ clock, registry: poisonRegistry() });
      await forge.app.forge.createRun(runInput({ id: "poison", graph: { steps: { s: { type: "counted" } } } }));
      await forge.app.forge.db.write(async (tx) => {
        await tx.$executeRawUnsafe(`CREATE FUNCTION busy() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'could not obtain lock' USING ERRCODE = '55P03'; END $$`);
        await tx.$executeRawUnsafe(`CREATE TRIGGER busy BEFORE UPDATE ON steps FOR EACH ROW
        WHEN (NEW.run_id = 'poison' AND NEW.status = 'SUCCEEDED') EXECUTE FUNCTION busy()`);
      });
      for (let i = 0; i < COMMIT_BUDGET + 2; i++) {
        await forge.app.forge.tickOnce(10);
        clock.advance(10 * 60_000);
      }
      expect(await forge.app.forge.getRun("poison")).toMatchObject({ status: "PENDING", commitFailures: 0, leaseOwner: null });
      await forge.app.forge.db.write((tx) => tx.$executeRawUnsafe("DROP TRIGGER busy ON steps"));
      expect((await forge.app.forge.tickOnce(10)).succeeded).toBe(1); // the fault passed: it goes on
    },
  );

  it("a handler that ignores its signal holds no tick slot once its run is cancelled", async () => {
    const registry = defaultRegistry([{ type: "forever", run: () => new Promise(() => {}) }]);
    // One tick slot, which the two stuck runs take: only their end frees it.
    const forge = await startForge({ registry, clock: systemClock, env: { FORGE_WORKER_ENABLED: "true", FORGE_WORKER_CONCURRENCY: "1" } });
    const stuck = await forge.app.forge.createRuns([1, 2].map(() => runInput({ graph: { steps: { s: { type: "forever" } } } })));
    await waitFor(() => forge.app.forge.scheduler.runsInFlight === 2, "both to start (their ticks cannot end)");
    for (const run of stuck) await forge.app.forge.cancelRun(run.id);
    const healthy = await forge.app.forge.createRun(runInput());
    await waitFor(async () => (await forge.app.forge.getRun(healthy.id))?.status === "SUCCEEDED", "a run after the cancelled ones");
    expect(forge.app.forge.scheduler.runsInFlight).toBe(0);
  });

  it("a run in a state the status machine forbids is never advanced: its tick fails it before any handler runs, and it stops being picked", async () => {
    calls.clear();
    const clock = new TestClock();
    const forge = await startForge({ clock, registry: poisonRegistry() });
    await forge.app.forge.createRun(runInput({ id: "corrupt", graph: { steps: { s: { type: "counted" } } } }));
    // A finished run that is still due: only a bug or a hand edit can make one.
    await forge.app.forge.db.write((tx) => tx.$executeRawUnsafe(`UPDATE runs SET status = 'SUCCEEDED' WHERE id = 'corrupt'`));
    for (let i = 0; i < COMMIT_BUDGET; i++) {
      expect((await forge.app.forge.tickOnce(10)).ticked).toBe(0);
      clock.advance(60_000);
    }
    expect(calls.get("corrupt/s")).toBeUndefined();
    expect(await forge.app.forge.getRun("corrupt")).toMatchObject({ status: "SUCCEEDED", wakeAt: null, commitFailures: COMMIT_BUDGET });
    expect((await forge.app.forge.tickOnce(10)).ticked).toBe(0);
  });
});
