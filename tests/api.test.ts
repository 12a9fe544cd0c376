import { describe, expect, it } from "vitest";
import type { TestClock } from "../src/clock.ts";
import type { ListRunsQuery } from "./gql/graphql.ts";
import { CreateRun, CreateRuns, GetRun, ListRuns, RunEvents, TickOnce } from "./support/documents.ts";
import { chain, runInput, startForge } from "./support/forge.ts";

describe("createRun", () => {
  it("stores the run PENDING with its steps and run_created as seq 1", async () => {
    const forge = await startForge();
    const result = await forge.gql(CreateRun, {
      input: runInput({ id: "deploy:42", lane: "fast", priority: 7, params: { env: "prod" }, mode: "DRY_RUN" }),
    });
    expect(result.errors).toBeUndefined();
    expect(result.data?.createRun).toMatchObject({
      id: "deploy:42",
      mode: "DRY_RUN",
      lane: "fast",
      priority: 7,
      params: { env: "prod" },
      status: "PENDING",
      eventCount: 1,
      startedAt: null,
      finishedAt: null,
    });
    const events = (await forge.gql(RunEvents, { runId: "deploy:42" })).data?.runEvents;
    expect(events?.map((e) => [e.seq, e.type])).toEqual([[1, "run_created"]]);
  });

  it("fills defaults: lane default, priority 0, params {}", async () => {
    const forge = await startForge();
    const run = (await forge.gql(CreateRun, { input: runInput() })).data?.createRun;
    expect(run).toMatchObject({ lane: "default", priority: 0, params: {}, idempotencyKey: null });
    expect(run?.id).toMatch(/^[A-Za-z0-9._:-]{1,128}$/);
  });

  it("an explicit id that exists fails with CONFLICT and changes nothing", async () => {
    const forge = await startForge();
    await forge.gql(CreateRun, { input: runInput({ id: "same" }) });
    const again = await forge.gql(CreateRun, { input: runInput({ id: "same", jobType: "other" }) });
    expect(again.errors?.[0]?.extensions?.code).toBe("CONFLICT");
    expect(again.errors?.[0]?.message).toBe('input.id: a run with id "same" already exists');
    expect(await forge.app.forge.db.read.run.count()).toBe(1);
    expect(await forge.app.forge.db.read.event.count()).toBe(1);
  });

  it("an idempotency key returns the existing run for the same input and CONFLICT for a different one", async () => {
    const forge = await startForge();
    const first = (await forge.gql(CreateRun, { input: runInput({ idempotencyKey: "k1" }) })).data?.createRun;
    const repeat = (await forge.gql(CreateRun, { input: runInput({ idempotencyKey: "k1" }) })).data?.createRun;
    expect(repeat).toEqual(first);
    const different = await forge.gql(CreateRun, { input: runInput({ idempotencyKey: "k1", priority: 5 }) });
    expect(different.errors?.[0]?.extensions?.code).toBe("CONFLICT");
    expect(different.errors?.[0]?.message).toMatch(/^input\.idempotencyKey: /);
    expect(await forge.app.forge.db.read.run.count()).toBe(1);
  });

  it("concurrent creates with one idempotency key make one run", async () => {
    const forge = await startForge();
    const results = await Promise.all(
      Array.from({ length: 8 }, () => forge.gql(CreateRun, { input: runInput({ idempotencyKey: "once" }) })),
    );
    const ids = new Set(results.map((r) => r.data?.createRun.id));
    expect(ids.size).toBe(1);
    expect(await forge.app.forge.db.read.run.count()).toBe(1);
  });

  it("unknown fields, syntax errors and bad literals are BAD_USER_INPUT: 400 in application/graphql-response+json, 200 in application/json", async () => {
    const forge = await startForge();
    for (const [accept, status] of [
      ["application/json", 200],
      ["application/graphql-response+json", 400],
    ] as const) {
      for (const [query, message] of [
        ["{ runz }", /Cannot query field "runz"/],
        ["{ run(id: ", /Syntax Error/],
        ["{ runs(first: 99999999999) { pageInfo { hasNextPage } } }", /99999999999/],
        ["{ runs(status: DONE) { pageInfo { hasNextPage } } }", /DONE/],
      ] as const) {
        const response = await forge.app.yoga.fetch("http://forge.test/graphql", {
          method: "POST",
          headers: { "content-type": "application/json", accept },
          body: JSON.stringify({ query }),
        });
        expect(response.status).toBe(status);
        expect(response.headers.get("content-type")).toBe(`${accept}; charset=utf-8`);
        const body = (await response.json()) as { data?: unknown; errors: Array<{ message: string; extensions: { code: string } }> };
        expect("data" in body).toBe(false);
        expect(body.errors[0]?.extensions.code).toBe("BAD_USER_INPUT");
        expect(body.errors[0]?.message).toMatch(message);
      }
    }
  });

  it("a wrong enum value or a missing field is refused before anything runs", async () => {
    const forge = await startForge();
    const result = await forge.gql("mutation($i: CreateRunInput!) { createRun(input: $i) { id } }", {
      i: { mode: "SOMETIMES", jobType: "j", requestedBy: "r", graph: {} },
    });
    expect(result.errors?.[0]?.message).toMatch(/SOMETIMES/);
    expect(result.status).toBe(400); // a variable's coercion is a request error
    expect(result.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(await forge.app.forge.db.read.run.count()).toBe(0);
  });
});

describe("request limits", () => {
  it("answers a request body over 4 MiB with 413 before reading it", async () => {
    const forge = await startForge();
    const url = await forge.app.start();
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ __typename }", variables: { pad: "x".repeat(4 * 1024 * 1024) } }),
    });
    expect(response.status).toBe(413);
    expect(((await response.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0]?.extensions.code).toBe(
      "BAD_USER_INPUT",
    );
    expect(await forge.app.forge.db.read.run.count()).toBe(0);
  });
});

describe("queries", () => {
  it("run is null when absent", async () => {
    const forge = await startForge();
    const result = await forge.gql(GetRun, { id: "absent" });
    expect(result.errors).toBeUndefined();
    expect(result.data?.run).toBeNull();
  });

  it("runs lists newest first with cursor pagination and filters", async () => {
    const forge = await startForge();
    const clock = forge.clock as TestClock;
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      ids.push(
        (await forge.gql(CreateRun, { input: runInput({ jobType: i % 2 ? "odd" : "even", lane: i < 3 ? "a" : "b" }) })).data?.createRun
          .id as string,
      );
      clock.advance(i === 3 ? 0 : 5); // two runs share a createdAt: the id breaks the tie
    }
    const seen: string[] = [];
    let after: string | null | undefined = null;
    for (;;) {
      const page: ListRunsQuery["runs"] | undefined = (await forge.gql(ListRuns, { first: 3, after })).data?.runs;
      if (!page) throw new Error("runs returned no page");
      // Relay's PageInfo: the page's own first and last cursors, and whether it was asked for after one.
      expect(page.pageInfo).toMatchObject({
        hasPreviousPage: after !== null,
        startCursor: page.edges[0]?.cursor ?? null,
        endCursor: page.edges.at(-1)?.cursor ?? null,
      });
      seen.push(...page.edges.map((e) => e.node.id));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(seen).toHaveLength(7);
    expect(new Set(seen).size).toBe(7);
    const rows = await forge.app.forge.db.read.run.findMany({ orderBy: [{ createdAt: "desc" }, { id: "desc" }] });
    expect(seen).toEqual(rows.map((r) => r.id));

    const odd = (await forge.gql(ListRuns, { jobType: "odd" })).data?.runs.edges.map((e) => e.node.id);
    expect(odd?.sort()).toEqual([ids[1], ids[3], ids[5]].sort());
    expect((await forge.gql(ListRuns, { jobType: "" })).data?.runs.edges).toEqual([]);
    const laneA = (await forge.gql(ListRuns, { lane: "a", jobType: "even" })).data?.runs.edges.map((e) => e.node.id);
    expect(laneA?.sort()).toEqual([ids[0], ids[2]].sort());
    await forge.gql(TickOnce, { limit: 2 });
    const done = (await forge.gql(ListRuns, { status: "SUCCEEDED" })).data?.runs.edges;
    expect(done).toHaveLength(2);
  });

  it("refuses out-of-range page sizes and bad cursors with BAD_USER_INPUT naming the argument", async () => {
    const forge = await startForge();
    const checks: Array<[Promise<{ errors?: Array<{ message: string; extensions?: { code?: string } }> }>, string]> = [
      [forge.gql(ListRuns, { first: 0 }), "first: must be an integer from 1 to 500"],
      [forge.gql(ListRuns, { first: 501 }), "first: must be an integer from 1 to 500"],
      [forge.gql(ListRuns, { after: "garbage" }), "after: is not a cursor returned by runs"],
      // Cursors are decoded from the client's text: an instant out of the databases' range, or an
      // id that is not well-formed text, is refused like any bad input (PostgreSQL answered 500).
      ...[
        [9e15, "x"],
        [-62198755200001, "x"],
        [-8640000000000000, "x"],
        [1700000000000, "a\u0000b"],
        [1700000000000, "\ud800"],
      ].map(
        (cursor) =>
          [
            forge.gql(ListRuns, { after: Buffer.from(JSON.stringify(cursor)).toString("base64url") }),
            "after: is not a cursor returned by runs",
          ] as [ReturnType<typeof forge.gql>, string],
      ),
      [forge.gql(RunEvents, { runId: "x", first: 1001 }), "first: must be an integer from 1 to 1000"],
      [forge.gql(RunEvents, { runId: "x", afterSeq: -1 }), "afterSeq: must be an integer from 0 to 9007199254740991"],
      [forge.gql(TickOnce, { limit: 0 }), "limit: must be an integer from 1 to 1000"],
      [forge.gql(TickOnce, { limit: 1001 }), "limit: must be an integer from 1 to 1000"],
    ];
    for (const [pending, message] of checks) {
      const result = await pending;
      expect(result.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
      expect(result.errors?.[0]?.message).toBe(message);
    }
  });

  it("an unexpected failure is answered as INTERNAL_SERVER_ERROR with status 500 and no internals", async () => {
    const forge = await startForge();
    await forge.gql(CreateRun, { input: runInput() });
    // Break the store underneath the API: the query's SQL now fails.
    await forge.app.forge.db.write(async (tx) => {
      for (const table of ["artifacts", "events", "steps", "runs"]) await tx.$executeRawUnsafe(`DROP TABLE ${table}`);
    });
    const result = await forge.gql(ListRuns, {});
    expect(result.status).toBe(500);
    expect(result.errors).toEqual([
      expect.objectContaining({ message: "Internal server error", extensions: { code: "INTERNAL_SERVER_ERROR" } }),
    ]);
  });
});

describe("createRuns", () => {
  it("creates every run in one call, in input order, each with its run_created", async () => {
    const forge = await startForge();
    const inputs = Array.from({ length: 20 }, (_, i) => runInput({ id: `batch-${i}`, priority: i }));
    const result = await forge.gql(CreateRuns, { inputs });
    expect(result.errors).toBeUndefined();
    expect(result.data?.createRuns.map((r) => r.id)).toEqual(inputs.map((i) => i.id));
    expect(result.data?.createRuns.every((r) => r.status === "PENDING" && r.eventCount === 1)).toBe(true);
    expect(await forge.app.forge.db.read.event.count({ where: { type: "run_created", seq: 1 } })).toBe(20);
    expect((await forge.gql(TickOnce, { limit: 100 })).data?.tickOnce.runIds).toEqual(inputs.map((i) => i.id).reverse());
  });

  it("refuses the whole batch when one input is invalid, naming it by index", async () => {
    const forge = await startForge();
    const inputs = [runInput(), runInput({ graph: { steps: { a: { type: "noop", deps: ["a"] } } } }), runInput()];
    const result = await forge.gql(CreateRuns, { inputs });
    expect(result.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(result.errors?.[0]?.message).toBe("inputs[1].graph.steps.a.deps: a step cannot depend on itself");
    expect(await forge.app.forge.db.read.run.count()).toBe(0);
  });

  it("refuses the whole batch on a taken id or a repeated one", async () => {
    const forge = await startForge();
    await forge.gql(CreateRun, { input: runInput({ id: "taken" }) });
    const taken = await forge.gql(CreateRuns, { inputs: [runInput({ id: "new" }), runInput({ id: "taken" })] });
    expect(taken.errors?.[0]).toMatchObject({
      message: 'inputs[1].id: a run with id "taken" already exists',
      extensions: { code: "CONFLICT" },
    });
    const repeated = await forge.gql(CreateRuns, { inputs: [runInput({ id: "twice" }), runInput({ id: "twice" })] });
    expect(repeated.errors?.[0]).toMatchObject({
      message: "inputs[1].id: repeats the id of inputs[0]",
      extensions: { code: "BAD_USER_INPUT" },
    });
    expect(await forge.app.forge.db.read.run.count()).toBe(1);
  });

  it("honours idempotency keys, within the batch and against stored runs", async () => {
    const forge = await startForge();
    const stored = (await forge.gql(CreateRun, { input: runInput({ idempotencyKey: "k" }) })).data?.createRun.id;
    const result = await forge.gql(CreateRuns, {
      inputs: [runInput({ idempotencyKey: "k" }), runInput({ idempotencyKey: "j" }), runInput({ idempotencyKey: "j" })],
    });
    const ids = result.data?.createRuns.map((r) => r.id) ?? [];
    expect(ids[0]).toBe(stored);
    expect(ids[1]).toBe(ids[2]);
    expect(await forge.app.forge.db.read.run.count()).toBe(2);
    const conflict = await forge.gql(CreateRuns, { inputs: [runInput({ idempotencyKey: "k", priority: 9 })] });
    expect(conflict.errors?.[0]?.extensions?.code).toBe("CONFLICT");
    expect(conflict.errors?.[0]?.message).toMatch(/^inputs\[0\]\.idempotencyKey: /);
  });

  it("a batch larger than one statement's worth of steps is written in chunks of one transaction: whole, or not at all", async () => {
    const forge = await startForge();
    const db = forge.app.forge.db;
    const graph = chain(200); // 40 runs of 200 steps: 8,000 steps, past the 5,000 of one statement
    const created = await forge.app.forge.createRuns(Array.from({ length: 40 }, (_, i) => runInput({ id: `big-${i}`, graph })));
    expect(created).toHaveLength(40);
    expect([await db.read.run.count(), await db.read.step.count(), await db.read.event.count()]).toEqual([40, 8000, 40]);
    // A row the database refuses in the last chunk takes every chunk before it back with it.
    await db.write((tx) =>
      db.dialect === "sqlite"
        ? tx.$executeRawUnsafe(
            `CREATE TRIGGER refuse_last BEFORE INSERT ON runs WHEN NEW.id = 'more-39' BEGIN SELECT RAISE(ABORT, 'refused'); END`,
          )
        : tx.$executeRawUnsafe(`CREATE RULE refuse_last AS ON INSERT TO runs WHERE NEW.id = 'more-39' DO INSTEAD SELECT 1/0`),
    );
    await expect(forge.app.forge.createRuns(Array.from({ length: 40 }, (_, i) => runInput({ id: `more-${i}`, graph })))).rejects.toThrow();
    expect([await db.read.run.count(), await db.read.step.count(), await db.read.event.count()]).toEqual([40, 8000, 40]);
  });

  it("refuses an empty batch and one over 500", async () => {
    const forge = await startForge();
    for (const inputs of [[], Array.from({ length: 501 }, () => runInput())]) {
      const result = await forge.gql(CreateRuns, { inputs });
      expect(result.errors?.[0]?.message).toBe("inputs: must hold 1 to 500 runs");
    }
  });
});

describe("group commit", () => {
  it("concurrent createRun calls share transactions: 100 at once take a handful of commits, each run whole", async () => {
    const forge = await startForge();
    const db = forge.app.forge.db;
    const commits = db.commits;
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => forge.gql(CreateRun, { input: runInput({ id: `g-${i}` }) })));
    expect(results.every((r) => r.errors === undefined)).toBe(true);
    const used = db.commits - commits;
    // They arrive in one turn of the event loop and go out together; a few may trail into a second batch.
    expect(used).toBeGreaterThanOrEqual(1);
    expect(used).toBeLessThanOrEqual(3);
    if (db.dialect === "postgres") {
      // Counted by the database itself: rows written by one transaction share its xmin.
      const [row] = await db.read.$queryRawUnsafe<Array<{ n: bigint }>>(
        "SELECT count(DISTINCT xmin::text) AS n FROM runs WHERE id LIKE 'g-%'",
      );
      expect(Number(row?.n)).toBe(used);
    }
    expect(await db.read.event.count({ where: { type: "run_created" } })).toBe(100);
    expect(await db.read.step.count()).toBe(100);
  });

  it("when the database fails, every caller in the batch gets the error and nothing is written", async () => {
    const forge = await startForge();
    await forge.app.forge.db.write(async (tx) => {
      await tx.$executeRawUnsafe("DROP TABLE events");
    });
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => forge.gql(CreateRun, { input: runInput({ id: `f-${i}` }) })));
    expect(results.map((r) => [r.status, r.errors?.[0]?.extensions?.code])).toEqual(
      Array.from({ length: 5 }, () => [500, "INTERNAL_SERVER_ERROR"]),
    );
    expect(await forge.app.forge.db.read.run.count()).toBe(0);
  });

  it("concurrent createRun calls each get their own outcome when one of them is a duplicate", async () => {
    const forge = await startForge();
    await forge.gql(CreateRun, { input: runInput({ id: "dup" }) });
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => forge.gql(CreateRun, { input: runInput({ id: i === 17 ? "dup" : `c-${i}` }) })),
    );
    expect(results.filter((r) => r.errors).map((r) => r.errors?.[0]?.extensions?.code)).toEqual(["CONFLICT"]);
    expect(await forge.app.forge.db.read.run.count()).toBe(30);
    const events = await forge.app.forge.db.read.event.findMany({ orderBy: { id: "asc" } });
    expect(events.every((e) => e.seq === 1 && e.type === "run_created")).toBe(true);
  });
});

describe("dashboard listing", () => {
  it("each run in a page comes with its own steps, in their stable order", async () => {
    const forge = await startForge();
    for (let i = 1; i <= 12; i++) await forge.gql(CreateRun, { input: runInput({ id: `r${i}`, graph: chain((i % 4) + 1) }) });
    const result = await forge.gql("{ runs(first: 12) { edges { node { id steps { id stepId runId deps } } } } }");
    expect(result.errors).toBeUndefined();
    for (const { node } of result.data.runs.edges as Array<{
      node: { id: string; steps: Array<{ id: string; stepId: string; runId: string; deps: string[] }> };
    }>) {
      const n = (Number(node.id.slice(1)) % 4) + 1;
      expect(node.steps.map((s) => s.stepId)).toEqual(Array.from({ length: n }, (_, i) => `s${i}`));
      // Step ids are unique across runs, so a normalized client cache keeps each run's steps apart.
      expect(node.steps.map((s) => s.id)).toEqual(node.steps.map((s) => `${node.id}/${s.stepId}`));
      expect(node.steps.every((s) => s.runId === node.id)).toBe(true);
      expect(node.steps.map((s) => s.deps)).toEqual(Array.from({ length: n }, (_, i) => (i ? [`s${i - 1}`] : [])));
    }
  });
});
