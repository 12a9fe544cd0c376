import { describe, expect, it } from "vitest";
import type { CreateRunInput } from "./gql/graphql.ts";
import { CreateRun, GetRun, TickOnce } from "./support/documents.ts";
import { runInput, startForge, type TestForge } from "./support/forge.ts";

async function expectRefused(forge: TestForge, input: CreateRunInput, message: string | RegExp) {
  const result = await forge.gql(CreateRun, { input });
  expect(result.status).toBe(200);
  expect(result.errors).toHaveLength(1);
  expect(result.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
  expect(result.errors?.[0]?.message).toMatch(message);
  expect(result.data).toBeNull();
  const db = forge.app.forge.db.read;
  expect([await db.run.count(), await db.step.count(), await db.event.count()]).toEqual([0, 0, 0]);
}

const graphOf = (steps: unknown, extra: Record<string, unknown> = {}) => runInput({ graph: { steps, ...extra } });

describe("graph validation: each rule refuses with BAD_USER_INPUT, names the step and writes nothing", () => {
  const cases: Array<[string, CreateRunInput, string | RegExp]> = [
    ["a graph that is not an object", runInput({ graph: [1, 2] }), "graph: must be an object with a `steps` object"],
    ["a graph without steps", runInput({ graph: {} }), "graph.steps: must be an object keyed by step id"],
    ["steps that are not an object", graphOf(["a"]), "graph.steps: must be an object keyed by step id"],
    ["a graph with no step", graphOf({}), "graph.steps: must contain at least one step"],
    ["an unknown graph key", graphOf({ a: { type: "noop" } }, { start: "a" }), "graph.start: is not a known graph key"],
    [
      "a step id with a forbidden character",
      graphOf({ "bad id": { type: "noop" } }),
      "graph.steps.bad id: step id must be 1-128 characters of [A-Za-z0-9._-]",
    ],
    ["a step id longer than 128 characters", graphOf({ ["x".repeat(129)]: { type: "noop" } }), /step id must be 1-128 characters/],
    ["a step that is not an object", graphOf({ a: "noop" }), "graph.steps.a: must be an object with a `type`"],
    ["a step without a type", graphOf({ a: { deps: [] } }), "graph.steps.a.type: must be a non-empty string"],
    [
      "an unknown step type",
      graphOf({ a: { type: "teleport" } }),
      'graph.steps.a.type: unknown step type "teleport" (known: approval, artifact, fail, http, noop, sleep)',
    ],
    ["an unknown step key", graphOf({ a: { type: "noop", dependsOn: [] } }), "graph.steps.a.dependsOn: is not a known step key"],
    ["deps that are not an array", graphOf({ a: { type: "noop", deps: "b" } }), "graph.steps.a.deps: must be an array of step ids"],
    ["a dep that is not a string", graphOf({ a: { type: "noop", deps: [1] } }), "graph.steps.a.deps: must contain only step ids (strings)"],
    ["a self-dependency", graphOf({ a: { type: "noop", deps: ["a"] } }), "graph.steps.a.deps: a step cannot depend on itself"],
    ["an unknown dependency", graphOf({ a: { type: "noop", deps: ["ghost"] } }), 'graph.steps.a.deps: unknown step "ghost"'],
    [
      "a dependency listed twice",
      graphOf({ a: { type: "noop" }, b: { type: "noop", deps: ["a", "a"] } }),
      'graph.steps.b.deps: lists "a" twice',
    ],
    [
      "a two-step cycle",
      graphOf({ a: { type: "noop", deps: ["b"] }, b: { type: "noop", deps: ["a"] } }),
      "graph.steps: cycle: a -> b -> a",
    ],
    [
      "a longer cycle behind an acyclic prefix",
      graphOf({
        root: { type: "noop" },
        x: { type: "noop", deps: ["root", "z"] },
        y: { type: "noop", deps: ["x"] },
        z: { type: "noop", deps: ["y"] },
      }),
      "graph.steps: cycle: x -> z -> y -> x",
    ],
    ["params that are not an object", graphOf({ a: { type: "noop", params: [1] } }), "graph.steps.a.params: must be an object"],
    ["a retry that is not an object", graphOf({ a: { type: "noop", retry: 3 } }), "graph.steps.a.retry: must be an object"],
    [
      "an unknown retry key",
      graphOf({ a: { type: "noop", retry: { attempts: 3 } } }),
      "graph.steps.a.retry.attempts: is not a known retry key",
    ],
    [
      "maxAttempts below 1",
      graphOf({ a: { type: "noop", retry: { maxAttempts: 0 } } }),
      "graph.steps.a.retry.maxAttempts: must be a whole number from 1 to 100",
    ],
    [
      "a backoffFactor below 1",
      graphOf({ a: { type: "noop", retry: { backoffFactor: 0.5 } } }),
      "graph.steps.a.retry.backoffFactor: must be a number from 1 to 100",
    ],
    [
      "a fractional backoffMs",
      graphOf({ a: { type: "noop", retry: { backoffMs: 1.5 } } }),
      "graph.steps.a.retry.backoffMs: must be a whole number",
    ],
    [
      "a timeoutMs of 0",
      graphOf({ a: { type: "noop", timeoutMs: 0 } }),
      "graph.steps.a.timeoutMs: must be a whole number of milliseconds from 1",
    ],
    ["a sleep without ms", graphOf({ a: { type: "sleep" } }), 'graph.steps.a.params: sleep needs "ms"'],
    [
      "a fail step with negative times",
      graphOf({ a: { type: "fail", params: { times: -1 } } }),
      'graph.steps.a.params: "times" must be a whole number',
    ],
    [
      "an initial_step that is not a string",
      graphOf({ a: { type: "noop" } }, { initial_step: 3 }),
      "graph.initial_step: must be a step id",
    ],
    ["an initial_step naming no step", graphOf({ a: { type: "noop" } }, { initial_step: "b" }), 'graph.initial_step: unknown step "b"'],
    [
      "an initial_step that has deps",
      graphOf({ a: { type: "noop" }, b: { type: "noop", deps: ["a"] } }, { initial_step: "b" }),
      'graph.initial_step: step "b" has deps; the initial step must have none',
    ],
  ];

  for (const [rule, input, message] of cases) {
    it(`refuses ${rule}`, async () => {
      const forge = await startForge();
      await expectRefused(forge, input, message);
    });
  }

  it("refuses more steps than the limit (1000)", async () => {
    const forge = await startForge();
    const steps = Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`s${i}`, { type: "noop" }]));
    await expectRefused(forge, graphOf(steps), "graph.steps: has 1001 steps, more than the limit of 1000");
  });

  it("refuses more deps in all than 16 per allowed step", async () => {
    const forge = await startForge();
    const steps: Record<string, { type: string; deps: string[] }> = {};
    for (let i = 0; i < 1000; i++)
      steps[`s${i}`] = { type: "noop", deps: Array.from({ length: Math.min(i, 17) }, (_, k) => `s${i - k - 1}`) };
    await expectRefused(forge, graphOf(steps), "graph.steps: has more than 16000 deps in all (16 per allowed step)");
  });

  it("refuses params and graphs nested more than 64 levels deep", async () => {
    const forge = await startForge();
    let deep: unknown = 1;
    for (let i = 0; i < 200; i++) deep = { d: deep };
    await expectRefused(
      forge,
      runInput({ params: deep as Record<string, unknown> }),
      /^input\.params(\.d){64}: is nested more than 64 levels deep$/,
    );
    await expectRefused(
      forge,
      graphOf({ a: { type: "noop", params: deep } }),
      /^graph\.steps\.a\.params(\.d){61}: is nested more than 64 levels deep$/,
    );
  });

  it("answers params nested 10,000 levels deep with BAD_USER_INPUT, not a crash", async () => {
    const forge = await startForge();
    // Written by hand: JSON.stringify itself would overflow the stack at this depth.
    const params = `${'{"d":'.repeat(10_000)}1${"}".repeat(10_000)}`;
    const body = `{"query":"mutation($p: JSON) { createRun(input: {mode: LIVE, jobType: \\"j\\", requestedBy: \\"r\\", graph: {steps: {a: {type: \\"noop\\"}}}, params: $p}) { id } }","variables":{"p":${params}}}`;
    const response = await forge.app.yoga.fetch("http://forge.test/graphql", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    const json = (await response.json()) as { errors?: Array<{ message: string; extensions?: { code?: string } }> };
    expect(response.status).toBe(200);
    expect(json.errors?.[0]).toMatchObject({
      message: expect.stringMatching(/^input\.params(\.d){64}: is nested more than 64 levels deep$/),
      extensions: { code: "BAD_USER_INPUT" },
    });
    expect(await forge.app.forge.db.read.run.count()).toBe(0);
  });

  it("treats __proto__ and constructor as plain step names", async () => {
    const forge = await startForge();
    await expectRefused(
      forge,
      graphOf({ a: { type: "noop" } }, { initial_step: "constructor" }),
      'graph.initial_step: unknown step "constructor"',
    );
    // JSON.parse makes "__proto__" an own key, as a request body does (an object literal would not).
    const graph = JSON.parse('{"steps":{"__proto__":{"type":"noop"},"constructor":{"type":"noop","deps":["__proto__"]}}}');
    const created = await forge.gql(CreateRun, { input: runInput({ graph }) });
    expect(created.errors).toBeUndefined();
    const id = created.data?.createRun.id as string;
    await forge.gql(TickOnce, {});
    const run = (await forge.gql(GetRun, { id })).data?.run;
    expect(run?.status).toBe("SUCCEEDED");
    expect(run?.steps.map((s) => s.stepId)).toEqual(["__proto__", "constructor"]);
  });

  it("accepts a graph and returns it normalized: every step has deps, keys in the client's order", async () => {
    const forge = await startForge();
    const graph = { steps: { fetch: { type: "noop" }, build: { type: "noop", deps: ["fetch"], params: { a: 1 } } }, initial_step: "fetch" };
    const result = await forge.gql(CreateRun, { input: runInput({ graph }) });
    expect(result.errors).toBeUndefined();
    expect(JSON.stringify(result.data?.createRun.graph)).toBe(
      JSON.stringify({
        steps: { fetch: { type: "noop", deps: [] }, build: { type: "noop", deps: ["fetch"], params: { a: 1 } } },
        initial_step: "fetch",
      }),
    );
  });
});

describe("createRun input validation names the field and writes nothing", () => {
  const cases: Array<[string, Partial<CreateRunInput>, string]> = [
    ["an id with a forbidden character", { id: "run/1" }, "input.id: must be 1-128 characters of [A-Za-z0-9._:-]"],
    ["an empty id", { id: "" }, "input.id: must be 1-128 characters of [A-Za-z0-9._:-]"],
    ["a jobType with a space", { jobType: "build it" }, "input.jobType: must be 1-128 characters of [A-Za-z0-9._:-]"],
    ["a lane longer than 128 characters", { lane: "l".repeat(129) }, "input.lane: must be 1-128 characters of [A-Za-z0-9._:-]"],
    ["a blank requestedBy", { requestedBy: "   " }, "input.requestedBy: must not be blank"],
    ["an empty requestedBy", { requestedBy: "" }, "input.requestedBy: must be 1-256 characters"],
    ["a requestedBy longer than 256 characters", { requestedBy: "r".repeat(257) }, "input.requestedBy: must be 1-256 characters"],
    ["a priority above 1000", { priority: 1001 }, "input.priority: must be an integer from -1000 to 1000"],
    ["a priority below -1000", { priority: -1001 }, "input.priority: must be an integer from -1000 to 1000"],
    ["params that are not an object", { params: "x" }, "input.params: must be a JSON object"],
    ["an empty idempotencyKey", { idempotencyKey: "" }, "input.idempotencyKey: must be 1-256 characters"],
  ];
  for (const [rule, extra, message] of cases) {
    it(`refuses ${rule}`, async () => {
      const forge = await startForge();
      await expectRefused(forge, runInput(extra), message);
    });
  }
});
