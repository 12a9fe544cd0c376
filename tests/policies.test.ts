import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { systemClock, TestClock } from "../src/clock.ts";
import { loadPolicies, PolicyError, parsePolicies } from "../src/domain/policy.ts";
import { defaultRegistry } from "../src/engine/steps/index.ts";
import type { StepHandler } from "../src/engine/steps/registry.ts";
import { CreateRun, RunArtifacts } from "./support/documents.ts";
import { freshDbUrl, runInput, startForge } from "./support/forge.ts";
import { MAIN, startProcess } from "./support/processes.ts";

/** Policies (API.md, "Policies"): loading and validation, refusals at createRun, defaults, lane caps; and step modules. */
function policyFile(content: unknown): string {
  const path = join(mkdtempSync(join(tmpdir(), "forge-policy-")), "forge.policy.json");
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
  return path;
}

const EXAMPLE = {
  autobuilder: {
    allowedStepTypes: ["noop", "http", "artifact"],
    allowedModes: ["DRY_RUN"],
    maxSteps: 3,
    laneConcurrency: { default: 4 },
    defaultRetry: { maxAttempts: 1 },
    defaultTimeoutMs: 60000,
  },
  "*": { maxSteps: 5 },
};

describe("policy files", () => {
  it("accepts the API.md example", () => {
    const policies = parsePolicies(JSON.stringify(EXAMPLE), "test");
    expect(policies.forJobType("autobuilder")).toEqual(EXAMPLE.autobuilder);
    expect(policies.forJobType("anything-else")).toEqual({ maxSteps: 5 });
  });

  it.each([
    ["not JSON", "{", /^f: not valid JSON/],
    ["an array", "[]", 'f: must be a JSON object mapping job types (or "*") to policies'],
    ["a bad job type", { "bad job": {} }, /^f: bad job: job types are "\*" or 1-128 characters/],
    ["an unknown key", { a: { maxStep: 5 } }, "f: a: unknown key maxStep"],
    ["maxSteps 0", { a: { maxSteps: 0 } }, /^f: a\.maxSteps: /],
    ["maxSteps too high", { a: { maxSteps: 10_001 } }, /^f: a\.maxSteps: /],
    ["an unknown mode", { a: { allowedModes: ["FAST"] } }, /^f: a\.allowedModes\.0: /],
    ["no step type", { a: { allowedStepTypes: [] } }, "f: a.allowedStepTypes: must list at least one step type"],
    ["a zero lane cap", { a: { laneConcurrency: { default: 0 } } }, /^f: a\.laneConcurrency\.default: /],
    ["a bad lane name", { a: { laneConcurrency: { "bad lane": 1 } } }, /^f: a\.laneConcurrency\.bad lane: lane names are/],
    ["a retry out of range", { a: { defaultRetry: { maxAttempts: 1000 } } }, /^f: a\.defaultRetry\.maxAttempts: /],
    ["an unknown retry key", { a: { defaultRetry: { attempts: 2 } } }, "f: a.defaultRetry: unknown key attempts"],
    ["a fractional timeout", { a: { defaultTimeoutMs: 1.5 } }, /^f: a\.defaultTimeoutMs: /],
    ["a negative retentionDays", { a: { retentionDays: -1 } }, /^f: a\.retentionDays: /],
    ["a fractional retentionDays", { a: { retentionDays: 0.5 } }, /^f: a\.retentionDays: /],
    ["a __proto__ job type", '{"__proto__": {"maxSteps": 2}}', "f: __proto__: is not allowed as a job type"],
    ["a __proto__ lane", '{"b": {"laneConcurrency": {"__proto__": 2}}}', "f: b.laneConcurrency.__proto__: is not allowed as a lane name"],
  ])("refuses %s, naming the key", (_what, content, message) => {
    const text = typeof content === "string" ? content : JSON.stringify(content);
    expect(() => parsePolicies(text, "f")).toThrow(PolicyError);
    expect(() => parsePolicies(text, "f")).toThrow(message);
  });

  it("refuses a step type no handler is registered for", () => {
    const policies = parsePolicies(JSON.stringify({ a: { allowedStepTypes: ["noop", "teleport"] } }), "f");
    expect(() => policies.checkStepTypes(defaultRegistry().types())).toThrow(
      'f: a.allowedStepTypes[1]: unknown step type "teleport" (known: approval, artifact, fail, http, noop, sleep)',
    );
  });

  it("reads ./forge.policy.json when FORGE_POLICY_FILE is unset, and falls back to the built-in policy", () => {
    const dir = mkdtempSync(join(tmpdir(), "forge-policy-"));
    expect(loadPolicies(null, dir).forJobType("x")).toEqual({ maxSteps: 1000 });
    writeFileSync(join(dir, "forge.policy.json"), JSON.stringify({ "*": { maxSteps: 7 } }));
    expect(loadPolicies(null, dir).forJobType("x")).toEqual({ maxSteps: 7 });
    expect(() => loadPolicies("missing.json", dir)).toThrow(/^policy file .*missing\.json: cannot be read/);
  });

  it("an invalid policy file stops startup with a message naming the key", async () => {
    const path = policyFile({ autobuilder: { laneConcurrency: { default: -1 } } });
    await expect(startForge({ env: { FORGE_POLICY_FILE: path } })).rejects.toThrow(
      `policy file ${path}: autobuilder.laneConcurrency.default: `,
    );
    const child = startProcess(MAIN, [], { DATABASE_URL: freshDbUrl(), FORGE_PORT: "0", FORGE_POLICY_FILE: path });
    expect(await child.exited).toBe(1);
    expect(child.output()).toContain(`policy file ${path}: autobuilder.laneConcurrency.default: `);
  });
});

describe("policies at createRun", () => {
  it("refuses a step type, a mode or a step count the job type's policy does not allow, and writes nothing", async () => {
    const forge = await startForge({ env: { FORGE_POLICY_FILE: policyFile(EXAMPLE) } });
    const cases: Array<[Record<string, unknown>, string]> = [
      [
        { jobType: "autobuilder", mode: "DRY_RUN", graph: { steps: { s: { type: "sleep", params: { ms: 1 } } } } },
        'graph.steps.s.type: step type "sleep" is not allowed by the policy of job type "autobuilder" (allowed: artifact, http, noop)',
      ],
      [
        { jobType: "autobuilder", mode: "LIVE" },
        'input.mode: LIVE is not allowed by the policy of job type "autobuilder" (allowed: DRY_RUN)',
      ],
      [
        {
          jobType: "autobuilder",
          mode: "DRY_RUN",
          graph: { steps: { a: { type: "noop" }, b: { type: "noop" }, c: { type: "noop" }, d: { type: "noop" } } },
        },
        'graph.steps: has 4 steps, more than the limit of 3 set by the policy of job type "autobuilder"',
      ],
      [
        { jobType: "other", graph: { steps: Object.fromEntries(["a", "b", "c", "d", "e", "f"].map((id) => [id, { type: "noop" }])) } },
        'graph.steps: has 6 steps, more than the limit of 5 set by the policy of job type "other"',
      ],
    ];
    for (const [input, message] of cases) {
      const result = await forge.gql(CreateRun, { input: runInput(input) });
      expect(result.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
      expect(result.errors?.[0]?.message).toBe(message);
    }
    expect(await forge.app.forge.db.read.run.count()).toBe(0);
    // Within the limits, it is accepted.
    const ok = await forge.gql(CreateRun, { input: runInput({ jobType: "autobuilder", mode: "DRY_RUN" }) });
    expect(ok.errors).toBeUndefined();
  });

  it("records the policy on the run: a later change of the file does not change runs already created", async () => {
    const dbUrl = freshDbUrl();
    const path = policyFile(EXAMPLE);
    const before = await startForge({ dbUrl, env: { FORGE_POLICY_FILE: path } });
    const run = await before.app.forge.createRun(runInput({ jobType: "autobuilder", mode: "DRY_RUN" }));
    const plain = await before.app.forge.createRun(runInput({ jobType: "plain" }));
    await before.stop();
    writeFileSync(path, JSON.stringify({ autobuilder: { maxSteps: 1 } }));
    const after = await startForge({ dbUrl, env: { FORGE_POLICY_FILE: path } });
    expect((await after.gql(RunArtifacts, { id: run.id })).data?.run?.policy).toEqual(EXAMPLE.autobuilder);
    expect((await after.gql(RunArtifacts, { id: plain.id })).data?.run?.policy).toEqual({ maxSteps: 5 });
    const fresh = await after.app.forge.createRun(runInput({ jobType: "autobuilder" }));
    expect(fresh.policy).toEqual({ maxSteps: 1 });
  });

  it("applies defaultRetry and defaultTimeoutMs to steps whose graph sets neither", async () => {
    const path = policyFile({ "*": { defaultRetry: { maxAttempts: 3, backoffMs: 0 }, defaultTimeoutMs: 50 } });
    let hung = 0;
    const hang: StepHandler = {
      type: "hang",
      run: (ctx) =>
        new Promise((_, reject) => {
          hung++;
          ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason));
        }),
    };
    const forge = await startForge({ clock: systemClock, env: { FORGE_POLICY_FILE: path }, registry: defaultRegistry([hang]) });
    const run = await forge.app.forge.createRun(
      runInput({
        graph: {
          steps: {
            flaky: { type: "fail", params: { times: 2 } }, // the policy's 3 attempts are enough
            once: { type: "fail", params: { times: 1 }, retry: { maxAttempts: 1 } }, // the graph's own retry wins
            stuck: { type: "hang" },
          },
        },
      }),
    );
    await forge.app.forge.tickOnce(10);
    const steps = Object.fromEntries((await forge.app.forge.steps([run.id])).map((s) => [s.id, [s.status, s.attempts, s.error]]));
    expect(steps).toEqual({
      flaky: ["SUCCEEDED", 3, null],
      once: ["FAILED", 1, "failed on purpose"],
      stuck: ["FAILED", 3, "timed out after 50 ms"],
    });
    expect(hung).toBe(3);
  });
});

describe("lane concurrency", () => {
  it("four concurrent tickers never have more runs of a capped lane RUNNING than its cap", async () => {
    const path = policyFile({ capped: { laneConcurrency: { default: 2, wide: 100 } } });
    const forge = await startForge({ clock: systemClock, env: { FORGE_POLICY_FILE: path } });
    // Each run spans several ticks: it starts, then sleeps (RUNNING, no lease), then finishes.
    const graph = { steps: { nap: { type: "sleep", params: { ms: 20 } }, end: { type: "noop", deps: ["nap"] } } };
    const capped = await forge.app.forge.createRuns(Array.from({ length: 12 }, () => runInput({ jobType: "capped", graph })));
    const other = await forge.app.forge.createRuns(Array.from({ length: 4 }, () => runInput({ jobType: "capped", lane: "wide", graph })));
    const ids = [...capped, ...other].map((r) => r.id);

    const done = async () => (await forge.app.forge.db.read.run.count({ where: { status: "SUCCEEDED" } })) === ids.length;
    let samples = 0;
    let maxSampled = 0;
    const tickers = Array.from({ length: 4 }, async (_, i) => {
      while (!(await done())) {
        await forge.app.forge.scheduler.tickOnce(3, `ticker-${i}`);
        const running = await forge.app.forge.db.read.run.count({ where: { lane: "default", status: "RUNNING" } });
        maxSampled = Math.max(maxSampled, running);
        samples++;
      }
    });
    await Promise.all(tickers);
    expect(samples).toBeGreaterThan(4);
    expect(maxSampled).toBeLessThanOrEqual(2);

    // The committed history, in commit order: how many runs of each lane were between run_started and their end.
    const lanes = new Map([...capped.map((r) => [r.id, "default"] as const), ...other.map((r) => [r.id, "wide"] as const)]);
    const events = await forge.app.forge.db.read.event.findMany({ where: { runId: { in: ids } }, orderBy: { id: "asc" } });
    const running = new Map<string, number>([
      ["default", 0],
      ["wide", 0],
    ]);
    const peak = new Map(running);
    for (const event of events) {
      const lane = lanes.get(event.runId) as string;
      if (event.type === "run_started") running.set(lane, (running.get(lane) as number) + 1);
      if (event.type === "run_succeeded") running.set(lane, (running.get(lane) as number) - 1);
      peak.set(lane, Math.max(peak.get(lane) as number, running.get(lane) as number));
    }
    expect(peak.get("default")).toBe(2); // reached, never passed
    expect(peak.get("wide")).toBeGreaterThan(2); // a lane with a higher cap is not held to it
  });

  it("a run waiting in a capped lane starts as soon as a slot frees up", async () => {
    const clock = new TestClock();
    const forge = await startForge({ clock, env: { FORGE_POLICY_FILE: policyFile({ "*": { laneConcurrency: { ci: 1 } } }) } });
    const gate = { steps: { ok: { type: "approval" } } };
    const first = await forge.app.forge.createRun(runInput({ lane: "ci", graph: gate }));
    clock.advance(1); // the older run goes first
    const second = await forge.app.forge.createRun(runInput({ lane: "ci", graph: gate }));
    expect((await forge.app.forge.tickOnce(10)).runIds).toEqual([first.id]);
    expect((await forge.app.forge.tickOnce(10)).ticked).toBe(0); // the slot is taken while the first waits
    await forge.app.forge.cancelRun(first.id);
    expect((await forge.app.forge.tickOnce(10)).runIds).toEqual([second.id]);
    // A lane named like an Object property is a lane like any other.
    const odd = await forge.app.forge.createRun(runInput({ lane: "__proto__" }));
    expect(odd.laneCap).toBeNull();
    expect((await forge.app.forge.tickOnce(10)).succeeded).toBe(1);
  });
});

describe("priority across lanes", () => {
  it("a high-priority run of a capped lane with a free slot goes before lower-priority runs of other lanes, however many", async () => {
    const clock = new TestClock();
    const forge = await startForge({ clock, env: { FORGE_POLICY_FILE: policyFile({ "*": { laneConcurrency: { gpu: 2 } } }) } });
    // Runs created together share a createdAt, so among equals the id decides (the pick order).
    const ids = (runs: Array<{ id: string }>) => runs.map((r) => r.id).sort();
    const low = ids(await forge.app.forge.createRuns(Array.from({ length: 300 }, () => runInput({ priority: -1000 }))));
    clock.advance(1);
    const urgent = ids(await forge.app.forge.createRuns(Array.from({ length: 3 }, () => runInput({ lane: "gpu", priority: 1000 }))));
    const middle = await forge.app.forge.createRun(runInput({ lane: "other", priority: 500 }));

    // One order for every lane: the two urgent runs the cap lets in, then the rest by priority.
    const first = await forge.app.forge.tickOnce(10);
    expect(first.runIds).toEqual([...urgent.slice(0, 2), middle.id, ...low.slice(0, 7)]);
    // Their runs finished in that tick, freeing the lane: the third goes first next time.
    const second = await forge.app.forge.tickOnce(10);
    expect(second.runIds).toEqual([urgent[2], ...low.slice(7, 16)]);
  });

  it("a lane whose cap was raised uses its new room at once, though runs created under the old cap wait ahead of it", async () => {
    const clock = new TestClock();
    const dbUrl = freshDbUrl();
    const gate = { steps: { ok: { type: "approval" } } };
    const before = await startForge({ clock, dbUrl, env: { FORGE_POLICY_FILE: policyFile({ "*": { laneConcurrency: { gpu: 1 } } }) } });
    const holder = await before.app.forge.createRun(runInput({ lane: "gpu", graph: gate }));
    expect((await before.app.forge.tickOnce(10)).runIds).toEqual([holder.id]); // it holds the one slot while it waits
    clock.advance(1);
    const old = await before.app.forge.createRun(runInput({ lane: "gpu" }));
    await before.stop();
    const after = await startForge({ clock, dbUrl, env: { FORGE_POLICY_FILE: policyFile({ "*": { laneConcurrency: { gpu: 2 } } }) } });
    clock.advance(1);
    const newer = await after.app.forge.createRun(runInput({ lane: "gpu" }));
    // The old run's cap (1) is still full; the newer one's (2) has room: it starts.
    expect((await after.app.forge.tickOnce(10)).runIds).toEqual([newer.id]);
    expect((await after.app.forge.getRun(old.id))?.status).toBe("PENDING");
  });

  it("a full capped lane's runs wait without holding back other lanes' runs", async () => {
    const clock = new TestClock();
    const forge = await startForge({ clock, env: { FORGE_POLICY_FILE: policyFile({ "*": { laneConcurrency: { gpu: 1 } } }) } });
    const gate = { steps: { ok: { type: "approval" } } };
    const holder = await forge.app.forge.createRun(runInput({ lane: "gpu", priority: 1000, graph: gate }));
    expect((await forge.app.forge.tickOnce(10)).runIds).toEqual([holder.id]); // it keeps the slot while it waits
    await forge.app.forge.createRuns(Array.from({ length: 50 }, () => runInput({ lane: "gpu", priority: 1000 })));
    const others = await forge.app.forge.createRuns(Array.from({ length: 5 }, () => runInput({ priority: -1000 })));
    expect((await forge.app.forge.tickOnce(10)).runIds).toEqual(others.map((r) => r.id).sort());
  });
});

describe("step modules (FORGE_STEP_MODULES)", () => {
  const calls = () => (globalThis as { forgeFixtureCalls?: unknown[][] }).forgeFixtureCalls ?? [];

  it("registers an operator's handlers; a side-effecting one does not run in DRY_RUN", async () => {
    const forge = await startForge({ env: { FORGE_STEP_MODULES: "./tests/fixtures/deploy-steps.mjs" } });
    const live = await forge.app.forge.createRun(
      runInput({
        graph: { steps: { hi: { type: "greet", params: { name: "ops" } }, ship: { type: "deploy", params: { service: "api" } } } },
      }),
    );
    const dry = await forge.app.forge.createRun(
      runInput({ mode: "DRY_RUN", graph: { steps: { ship: { type: "deploy", params: { service: "api" } } } } }),
    );
    await forge.app.forge.tickOnce(10);
    const outputs = Object.fromEntries(
      (await forge.app.forge.steps([live.id, dry.id])).map((s) => [`${s.runId === dry.id ? "dry" : "live"}.${s.id}`, s.output]),
    );
    expect(outputs).toEqual({
      "live.hi": { greeting: "hello, ops" },
      "live.ship": { deployed: "api" },
      "dry.ship": { dryRun: true, type: "deploy", params: { service: "api" } },
    });
    expect(calls().filter(([, runId]) => runId === dry.id)).toEqual([]);
    expect(calls().filter(([, runId]) => runId === live.id)).toHaveLength(2);
    // The module's checkParams runs at createRun.
    await expect(forge.app.forge.createRun(runInput({ graph: { steps: { hi: { type: "greet" } } } }))).rejects.toThrow(
      'graph.steps.hi.params: "name" must be a string',
    );
  });

  it("a module that cannot be loaded, or registers a type twice, stops startup naming it", async () => {
    await expect(startForge({ env: { FORGE_STEP_MODULES: "./tests/fixtures/nope.mjs" } })).rejects.toThrow(
      /^FORGE_STEP_MODULES: cannot load "\.\/tests\/fixtures\/nope\.mjs"/,
    );
    await expect(
      startForge({ env: { FORGE_STEP_MODULES: "./tests/fixtures/deploy-steps.mjs,./tests/fixtures/deploy-steps.mjs" } }),
    ).rejects.toThrow('FORGE_STEP_MODULES: step type "greet" is already registered');
  });
});
