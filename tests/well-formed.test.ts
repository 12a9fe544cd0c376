import { describe, expect, it } from "vitest";
import { InvalidInput } from "../src/errors.ts";
import type { CreateRunInput } from "./gql/graphql.ts";
import { AllEventsSubscription, CreateRun, RunEventsSubscription } from "./support/documents.ts";
import { dialect, runInput, startForge, type TestForge } from "./support/forge.ts";
import { subscribe, wsClient } from "./support/ws.ts";

/**
 * Every string the API accepts must be well-formed Unicode (API.md, "Errors"): a NUL or a
 * lone UTF-16 surrogate anywhere in an input is BAD_USER_INPUT naming the field, on both
 * databases, and nothing is written.
 */
const NUL = "\u0000";
const LONE = "\ud800";

async function rowCounts(forge: TestForge) {
  const db = forge.app.forge.db.read;
  return [await db.run.count(), await db.step.count(), await db.event.count()];
}

async function expectRefusedHttp(forge: TestForge, query: string, variables: Record<string, unknown>, message: string) {
  const result = await forge.gql(query, variables);
  expect(result.errors).toEqual([expect.objectContaining({ message, extensions: expect.objectContaining({ code: "BAD_USER_INPUT" }) })]);
  expect(result.status).toBe(400); // refused before execution: a request error
  expect(await rowCounts(forge)).toEqual([0, 0, 0]);
}

const CASES: Array<[string, Partial<CreateRunInput>, string, string]> = [
  ["a NUL in requestedBy", { requestedBy: `al${NUL}ice` }, "$input.requestedBy", "contains a NUL character (U+0000)"],
  [
    "a lone surrogate in requestedBy",
    { requestedBy: `al${LONE}ice` },
    "$input.requestedBy",
    "contains a lone UTF-16 surrogate (not well-formed Unicode)",
  ],
  ["a NUL in the idempotency key", { idempotencyKey: `k${NUL}` }, "$input.idempotencyKey", "contains a NUL character (U+0000)"],
  ["a NUL in the id", { id: `r${NUL}` }, "$input.id", "contains a NUL character (U+0000)"],
  ["a NUL deep in params", { params: { a: [1, { note: `x${NUL}` }] } }, "$input.params.a[1].note", "contains a NUL character (U+0000)"],
  [
    "a lone surrogate in a params key",
    { params: { [`k${LONE}`]: 1 } },
    '$input.params["k\\ud800"]',
    "has a key that contains a lone UTF-16 surrogate (not well-formed Unicode)",
  ],
  [
    "a lone low surrogate in a step's params",
    { graph: { steps: { a: { type: "noop", params: { x: "\udc00" } } } } },
    "$input.graph.steps.a.params.x",
    "contains a lone UTF-16 surrogate (not well-formed Unicode)",
  ],
  [
    "a NUL in a step id",
    { graph: { steps: { [`a${NUL}`]: { type: "noop" } } } },
    '$input.graph.steps["a\\u0000"]',
    "has a key that contains a NUL character (U+0000)",
  ],
];

describe("well-formed input", () => {
  it.for(CASES)("refuses %s with BAD_USER_INPUT naming the field, and writes nothing", async ([, extra, field, problem]) => {
    const forge = await startForge();
    await expectRefusedHttp(forge, CreateRun.toString(), { input: runInput(extra) }, `variable ${field}: ${problem}`);
  });

  it("names the argument of a string literal holding a \\u0000 escape", async () => {
    const forge = await startForge();
    const query = `mutation { createRun(input: { mode: LIVE, jobType: "j", requestedBy: "r", graph: { steps: { a: { type: "noop" } } },
      params: { note: "a\\u0000b" } }) { id } }`;
    await expectRefusedHttp(forge, query, {}, "input.params.note: contains a NUL character (U+0000)");
  });

  it("the engine refuses the same inputs when called directly, naming the field", async () => {
    const forge = await startForge();
    await expect(forge.app.forge.createRun(runInput({ params: { deep: { note: `x${NUL}` } } }))).rejects.toThrow(
      new InvalidInput("input.params.deep.note", "contains a NUL character (U+0000)"),
    );
    await expect(forge.app.forge.createRuns([runInput(), runInput({ requestedBy: LONE })])).rejects.toThrow(
      "inputs[1].requestedBy: contains a lone UTF-16 surrogate (not well-formed Unicode)",
    );
    await expect(forge.app.forge.createRun(runInput({ graph: { steps: { a: { type: "noop", params: { [NUL]: 1 } } } } }))).rejects.toThrow(
      'graph.steps.a.params["\\u0000"]: has a key that contains a NUL character (U+0000)',
    );
    expect(await rowCounts(forge)).toEqual([0, 0, 0]);
  });

  it("lookups and payloads are checked too: run(id), runEvents, signalRun", async () => {
    const forge = await startForge();
    for (const [query, variables, message] of [
      ["query($id: ID!) { run(id: $id) { id } }", { id: `r${NUL}` }, "variable $id: contains a NUL character (U+0000)"],
      [
        "query($id: ID!) { runEvents(runId: $id) { id } }",
        { id: LONE },
        "variable $id: contains a lone UTF-16 surrogate (not well-formed Unicode)",
      ],
      [
        'mutation($p: JSON) { signalRun(runId: "r", stepId: "s", payload: $p) { id } }',
        { p: { by: `a${NUL}` } },
        "variable $p.by: contains a NUL character (U+0000)",
      ],
      [
        "query($lane: String) { runs(lane: $lane) { edges { cursor } } }",
        { lane: NUL },
        "variable $lane: contains a NUL character (U+0000)",
      ],
    ] as const) {
      await expectRefusedHttp(forge, query, variables, message);
    }
    await expect(forge.app.forge.signalRun("r", "s", { by: LONE })).rejects.toThrow(
      "payload.by: contains a lone UTF-16 surrogate (not well-formed Unicode)",
    );
  });

  it("subscriptions over graphql-ws get the same answer", async () => {
    const forge = await startForge();
    const url = await forge.app.start();
    const client = wsClient(url);
    const bad = subscribe(client, RunEventsSubscription, { runId: `r${NUL}` });
    await bad.done;
    expect(bad.errors).toEqual([
      expect.objectContaining({ message: "variable $runId: contains a NUL character (U+0000)", extensions: { code: "BAD_USER_INPUT" } }),
    ]);
    // The connection stays usable.
    const good = subscribe(client, AllEventsSubscription, { afterId: "0" });
    await forge.app.forge.createRun(runInput());
    await expect.poll(() => good.items.length).toBe(1);
    good.close();
  });

  it("one bad input among concurrent createRun calls fails alone: the others share its group commit and are created", async () => {
    const forge = await startForge();
    const bad: Record<number, string> = { 7: LONE, 13: NUL };
    const inputs = Array.from({ length: 20 }, (_, i) => runInput({ id: `r${i}`, params: { note: bad[i] ?? `fine ${i}` } }));
    const results = await Promise.all(inputs.map((input) => forge.gql(CreateRun, { input })));
    expect(results.map((r) => r.errors?.[0]?.extensions?.code ?? "ok")).toEqual(inputs.map((_, i) => (bad[i] ? "BAD_USER_INPUT" : "ok")));
    expect(await forge.app.forge.db.read.run.count()).toBe(18);
  });

  it("a run the database refuses fails alone: the others in its group commit are created (the queue goes one by one)", async () => {
    const forge = await startForge();
    const db = forge.app.forge.db;
    // A row the database itself refuses, beyond anything validation knows about.
    if (dialect === "sqlite") {
      await db.write((tx) =>
        tx.$executeRawUnsafe(
          `CREATE TRIGGER refuse_run BEFORE INSERT ON runs WHEN NEW.id = 'refused' BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END`,
        ),
      );
    } else {
      await db.write(async (tx) => {
        await tx.$executeRawUnsafe(
          "CREATE FUNCTION refuse_run() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by a test trigger'; END $$",
        );
        await tx.$executeRawUnsafe(
          "CREATE TRIGGER refuse_run BEFORE INSERT ON runs FOR EACH ROW WHEN (NEW.id = 'refused') EXECUTE FUNCTION refuse_run()",
        );
      });
    }
    const ids = Array.from({ length: 20 }, (_, i) => (i === 5 ? "refused" : `ok${i}`));
    const results = await Promise.allSettled(ids.map((id) => forge.app.forge.createRun(runInput({ id }))));
    expect(results.map((r) => r.status)).toEqual(ids.map((id) => (id === "refused" ? "rejected" : "fulfilled")));
    expect(await forge.app.forge.db.read.run.count()).toBe(19);
  });
});
