import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CreateRun } from "./support/documents.ts";
import { startForge } from "./support/forge.ts";

/**
 * A property-based fuzzer for createRun (fast-check): whatever a careless or hostile client
 * sends as the input, Forge answers a run or a clear error naming where the input is wrong
 * (BAD_USER_INPUT, or CONFLICT for a taken id), never an internal error, and the database
 * holds exactly the runs it acknowledged, each whole (its steps and its run_created).
 *
 * FORGE_FUZZ_RUNS sets the number of inputs (default 150 per database; run it for longer by
 * hand), FORGE_FUZZ_SEED replays a failing case from its seed (fast-check prints both).
 */
const RUNS = Number(process.env.FORGE_FUZZ_RUNS ?? 150);
const SEED = process.env.FORGE_FUZZ_SEED === undefined ? undefined : Number(process.env.FORGE_FUZZ_SEED);

/** Text that includes what the checks must catch: NUL, lone surrogates, control and astral characters, long strings. */
const nasty = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom("\u0000", "\ud800", "\udfff", "a\ud83d", "\ud83d\ude00", "   ", "", "__proto__", "constructor") },
  { weight: 1, arbitrary: fc.string({ minLength: 120, maxLength: 300 }) },
);

/** JSON of any shape, sometimes nested deeper than the limit, with nasty keys and strings. */
const json: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    nasty,
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(nasty, tie("value"), { maxKeys: 4 }),
  ),
})).value;
const deep = fc.integer({ min: 60, max: 200 }).map((depth) => {
  let value: unknown = "leaf";
  for (let i = 0; i < depth; i++) value = i % 2 ? [value] : { d: value };
  return value;
});

/** A well-formed step of each built-in type, depending on some of the steps before it (so the graph is a DAG). */
function validStep(earlier: string[]): fc.Arbitrary<Record<string, unknown>> {
  const candidates = earlier.slice(-16);
  const deps = fc.subarray(candidates, { maxLength: Math.min(4, candidates.length) });
  const kinds = [
    fc.record({ type: fc.constant("noop"), deps }),
    fc.record({ type: fc.constant("sleep"), deps, params: fc.record({ ms: fc.integer({ min: 0, max: 10_000 }) }) }),
    fc.record({ type: fc.constant("fail"), deps, params: fc.record({ message: fc.string({ maxLength: 20 }) }) }),
    fc.record({ type: fc.constant("approval"), deps, params: fc.record({ prompt: fc.string({ maxLength: 20 }) }) }),
    fc.record({ type: fc.constant("artifact"), deps, params: fc.record({ name: fc.stringMatching(/^[a-z]{1,8}\.txt$/), content: json }) }),
    fc.record({
      type: fc.constant("http"),
      deps,
      params: fc.record({ url: fc.constant("https://example.com/hook"), method: fc.constantFrom("GET", "POST") }),
    }),
  ];
  return fc
    .record({
      step: fc.oneof(...kinds),
      retry: fc.option(fc.record({ maxAttempts: fc.integer({ min: 1, max: 5 }), backoffMs: fc.integer({ min: 0, max: 1000 }) }), {
        nil: undefined,
      }),
    })
    .map(({ step, retry }) => (retry ? { ...step, retry } : step));
}

const validGraph = fc
  .uniqueArray(fc.stringMatching(/^[A-Za-z0-9._-]{1,10}$/), { minLength: 1, maxLength: 8 })
  .chain((ids) =>
    fc
      .tuple(...ids.map((id, i) => validStep(ids.slice(0, i)).map((step) => [id, step] as const)))
      .map((steps) => ({ steps: Object.fromEntries(steps) })),
  );

const validInput = fc.record(
  {
    id: fc.stringMatching(/^[A-Za-z0-9._:-]{1,16}$/),
    mode: fc.constantFrom("LIVE", "DRY_RUN"),
    jobType: fc.stringMatching(/^[A-Za-z0-9._:-]{1,12}$/),
    requestedBy: fc.string({ minLength: 1, maxLength: 20 }).filter((r) => r.trim() !== ""),
    lane: fc.stringMatching(/^[A-Za-z0-9._:-]{1,12}$/),
    priority: fc.integer({ min: -1000, max: 1000 }),
    graph: validGraph,
    params: fc.dictionary(fc.string({ maxLength: 8 }), json, { maxKeys: 4 }),
    idempotencyKey: fc.string({ minLength: 1, maxLength: 20 }),
  },
  { requiredKeys: ["mode", "jobType", "requestedBy", "graph"] },
);

/** Where a mutation lands: a field of the input, or of a step of its graph. */
const PLACES = [
  "id",
  "mode",
  "jobType",
  "requestedBy",
  "lane",
  "priority",
  "params",
  "idempotencyKey",
  "graph",
  "graph.steps",
  "graph.initial_step",
  "graph.extra",
];
const STEP_PLACES = ["", "type", "deps", "params", "retry", "timeoutMs", "params.ms", "params.url", "params.name", "params.content", "key"];
const junk = fc.oneof(json, nasty, deep, fc.constantFrom("taken", "shared-key", "teleport", -1, 1e21, "http://127.1/", "http://[::1]/"));

/** A valid input with one to three parts replaced by junk, so that every rule is reached, and also passed. */
const input = fc
  .tuple(
    validInput,
    fc.array(fc.record({ place: fc.constantFrom(...PLACES), step: fc.nat(), stepPlace: fc.constantFrom(...STEP_PLACES), value: junk }), {
      maxLength: 3,
    }),
  )
  .map(([base, mutations]) => {
    const candidate = structuredClone(base) as Record<string, unknown> & { graph: { steps: Record<string, Record<string, unknown>> } };
    for (const { place, step, stepPlace, value } of mutations) {
      const ids = Object.keys(candidate.graph?.steps ?? {});
      if (place === "graph.steps" && ids.length > 0 && typeof candidate.graph.steps === "object") {
        const id = ids[step % ids.length] as string;
        if (stepPlace === "") candidate.graph.steps[id] = value as Record<string, unknown>;
        else if (stepPlace === "key")
          candidate.graph.steps[typeof value === "string" ? value : `${JSON.stringify(value)}`] = candidate.graph.steps[id] as Record<
            string,
            unknown
          >;
        else setPath(candidate.graph.steps[id], stepPlace, value);
      } else setPath(candidate, place, value);
    }
    return candidate;
  });

function setPath(target: unknown, path: string, value: unknown): void {
  const keys = path.split(".");
  let at = target as Record<string, unknown>;
  for (const key of keys.slice(0, -1)) {
    // An earlier mutation made this place a scalar: there is nothing left to set a path in.
    if (typeof at !== "object" || at === null) return;
    if (typeof at[key] !== "object" || at[key] === null) at[key] = {};
    at = at[key] as Record<string, unknown>;
  }
  if (typeof at === "object" && at !== null) at[keys.at(-1) as string] = value;
}

/** What a field-naming message starts with: a variable path, an input field, or a graph path. */
const NAMES_A_FIELD = /^(variable \$input|Variable "\$input"|input\.|inputs\[|graph(\.|:|\[))/;

describe("createRun under a property-based fuzzer", () => {
  it(`answers ${RUNS} arbitrary inputs with a run or BAD_USER_INPUT/CONFLICT naming the field, and stores exactly the runs it acknowledged`, async () => {
    const forge = await startForge();
    await forge.app.forge.createRun({
      id: "taken",
      mode: "LIVE",
      jobType: "j",
      requestedBy: "t",
      graph: { steps: { a: { type: "noop" } } },
    });
    const acknowledged = new Set<string>(["taken"]);
    await fc.assert(
      fc.asyncProperty(input, async (candidate) => {
        const result = await forge.gql(CreateRun, { input: candidate as never });
        const error = result.errors?.[0];
        if (error) {
          expect(result.data?.createRun ?? null).toBeNull();
          expect(["BAD_USER_INPUT", "CONFLICT"]).toContain(error.extensions?.code);
          expect(error.message).toMatch(NAMES_A_FIELD);
          return;
        }
        const run = result.data?.createRun;
        expect(run?.status).toBe("PENDING");
        acknowledged.add(run?.id as string);
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
    const db = forge.app.forge.db.read;
    const runs = await db.run.findMany({ select: { id: true, graph: true } });
    expect(new Set(runs.map((r) => r.id))).toEqual(acknowledged);
    // Each acknowledged run is whole: one step per graph step and its run_created.
    const steps = await db.step.groupBy({ by: ["runId"], _count: { _all: true } });
    const stepCount = new Map(steps.map((s) => [s.runId, s._count._all]));
    for (const run of runs) expect(stepCount.get(run.id)).toBe(Object.keys(JSON.parse(run.graph).steps).length);
    expect(await db.event.count({ where: { type: "run_created" } })).toBe(runs.length);
    expect(await db.event.count()).toBe(runs.length);
  }, 120_000);
});
