import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { getIntrospectionQuery, Lexer, Source, TokenKind } from "graphql";
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { storedJsonLength, toRunRecord } from "../src/store/records.ts";
import { AllEventsSubscription, CreateRuns, RunEventsSubscription, TickOnce } from "./support/documents.ts";
import { chain, runInput, startForge, type TestForge } from "./support/forge.ts";
import { rawRequest } from "./support/raw-http.ts";
import { waitFor } from "./support/wait.ts";
import { subscribe, wsClient } from "./support/ws.ts";

const MiB = 1024 * 1024;

/** A runs row as the database hands it over (the model's shape). */
function rawRunRow() {
  const at = new Date();
  return {
    id: "r",
    mode: "LIVE",
    jobType: "j",
    lane: "default",
    requestedBy: "t",
    priority: 0,
    status: "PENDING",
    graph: "{}",
    params: "{}",
    idempotencyKey: null,
    inputHash: "",
    createdAt: at,
    updatedAt: at,
    startedAt: null,
    finishedAt: null,
    seq: 1,
    leaseOwner: null,
    leaseEpoch: 0,
    leaseExpiresAt: null,
    wakeAt: at,
    policy: "{}",
    laneCap: null,
    commitFailures: 0,
    rerunOf: null,
    latestRerun: null,
  };
}
const BAD_USER_INPUT = { extensions: { code: "BAD_USER_INPUT" } };

/** POSTs a document through yoga.fetch; the status, the data and the first error. */
async function ask(forge: TestForge, query: string, variables?: Record<string, unknown>) {
  const result = await forge.gql(query, variables);
  return { status: result.status, data: result.data as any, error: result.errors?.[0] };
}

function refusedFor(variable: string) {
  return { message: expect.stringContaining(variable), ...BAD_USER_INPUT };
}

/**
 * A createRun whose graph holds a list of ints, filled so the document has exactly `tokens`
 * tokens (repeating one field instead would trip graphql-js' own budget for comparing fields).
 */
function documentOfTokens(tokens: number): string {
  const withList = (ints: number) =>
    `mutation { createRun(input: { mode: LIVE, jobType: "j", requestedBy: "r", graph: { steps: { a: { type: "noop", params: { x: [${"1 ".repeat(ints)}] } } } } }) { id } }`;
  const lexer = new Lexer(new Source(withList(0)));
  let base = 0;
  while (lexer.advance().kind !== TokenKind.EOF) base++;
  return withList(tokens - base);
}

/** `__type(name: "Run")` followed by `ofType` until the selection is `depth` fields deep. */
function documentOfDepth(depth: number): string {
  return `{ __type(name: "Run") { ${"ofType { ".repeat(depth - 2)}name${" }".repeat(depth - 2)} } }`;
}

function documentOfAliases(aliases: number): string {
  return `{ ${Array.from({ length: aliases }, (_, i) => `a${i}: run(id: "r${i}") { id }`).join(" ")} }`;
}

/**
 * Costs 204 per run asked for: a run is 1 + edges (1) + node (1) + id (1) + events (100 × 2).
 * With the default limit of 50,000, 245 runs (49,980) are allowed and 246 (50,184) are not.
 */
const RUNS_WITH_EVENTS = "query($n: Int) { runs(first: $n) { edges { node { id events(first: 100) { id } } } } }";

describe("document limits over HTTP", () => {
  it("tokens: 20,000 are accepted, 20,001 refused with BAD_USER_INPUT naming FORGE_MAX_TOKENS", async () => {
    const forge = await startForge();
    const ok = await ask(forge, documentOfTokens(20_000));
    expect(ok.error).toBeUndefined();
    expect(ok.data.createRun.id).toEqual(expect.any(String));
    expect((await ask(forge, documentOfTokens(20_001))).error).toEqual(refusedFor("FORGE_MAX_TOKENS"));
  });

  it("depth: 16 fields deep is accepted, 17 refused naming FORGE_MAX_DEPTH", async () => {
    const forge = await startForge();
    const ok = await ask(forge, documentOfDepth(16));
    expect(ok.error).toBeUndefined();
    expect(ok.data.__type).toMatchObject({ ofType: null });
    expect((await ask(forge, documentOfDepth(17))).error).toEqual(refusedFor("FORGE_MAX_DEPTH"));
  });

  it("aliases: 100 are accepted, 101 refused naming FORGE_MAX_ALIASES", async () => {
    const forge = await startForge();
    const ok = await ask(forge, documentOfAliases(100));
    expect(ok.error).toBeUndefined();
    expect(Object.keys(ok.data)).toHaveLength(100);
    expect((await ask(forge, documentOfAliases(101))).error).toEqual(refusedFor("FORGE_MAX_ALIASES"));
  });

  it("cost: a page size given as a variable counts, 49,980 is accepted and 50,184 refused naming FORGE_MAX_COST", async () => {
    const forge = await startForge();
    await forge.gql(CreateRuns, { inputs: [runInput(), runInput()] });
    const ok = await ask(forge, RUNS_WITH_EVENTS, { n: 245 });
    expect(ok.error).toBeUndefined();
    expect(ok.data.runs.edges).toHaveLength(2);
    const refused = await ask(forge, RUNS_WITH_EVENTS, { n: 246 });
    expect(refused.error).toEqual({ message: expect.stringMatching(/50184.*50000.*FORGE_MAX_COST/), ...BAD_USER_INPUT });
    expect(refused.data).toBeNull();
    // Without the variable, runs' default page (50) is priced.
    expect((await ask(forge, RUNS_WITH_EVENTS)).error).toBeUndefined();
  });

  it("cost: a negative page size does not pay for another list of the operation", async () => {
    const forge = await startForge();
    const query = `query($n: Int) { a: runs(first: -1000000) { edges { node { id } } } b: runs(first: $n) { edges { node { id events(first: 100) { id } } } } }`;
    expect((await ask(forge, query, { n: 246 })).error).toEqual(refusedFor("FORGE_MAX_COST"));
  });

  it("cost: aliased pages add up, which is what a 22 KB query asking for 500 MB did", async () => {
    const forge = await startForge();
    const query = `{ ${Array.from({ length: 100 }, (_, i) => `a${i}: runs(first: 500) { edges { node { events(first: 1000) { id data } } } }`).join(" ")} }`;
    expect((await ask(forge, query)).error).toEqual(refusedFor("FORGE_MAX_COST"));
  });

  it("each limit is raised by its variable", async () => {
    const forge = await startForge({
      env: { FORGE_MAX_TOKENS: "20010", FORGE_MAX_DEPTH: "17", FORGE_MAX_ALIASES: "101", FORGE_MAX_COST: "60000" },
    });
    expect((await ask(forge, documentOfTokens(20_001))).error).toBeUndefined();
    expect((await ask(forge, documentOfDepth(17))).error).toBeUndefined();
    expect((await ask(forge, documentOfAliases(101))).error).toBeUndefined();
    expect((await ask(forge, RUNS_WITH_EVENTS, { n: 246 })).error).toBeUndefined();
  });

  it("the standard introspection query passes, with every option GraphiQL may ask for", async () => {
    const forge = await startForge();
    for (const query of [
      getIntrospectionQuery(),
      getIntrospectionQuery({
        descriptions: true,
        specifiedByUrl: true,
        directiveIsRepeatable: true,
        schemaDescription: true,
        inputValueDeprecation: true,
        oneOf: true,
      }),
    ]) {
      const result = await ask(forge, query);
      expect(result.error).toBeUndefined();
      expect(result.data.__schema.types.length).toBeGreaterThan(10);
    }
  });
});

describe("literals nested too deeply for the parser", () => {
  it("5,000 nested brackets in an argument or a selection are BAD_USER_INPUT naming FORGE_MAX_NESTING, not a 500", async () => {
    const forge = await startForge();
    const deepList = `{ run(id: ${"[".repeat(5000)}${"]".repeat(5000)}) { id } }`;
    const deepSelection = `${'{ run(id: "x") '.repeat(2500)}${"}".repeat(2500)}`;
    for (const query of [deepList, deepSelection]) {
      const refused = await ask(forge, query);
      expect(refused.status).toBe(400);
      expect(refused.error).toEqual(refusedFor("FORGE_MAX_NESTING"));
    }
  });

  it("128 levels pass the nesting check (the graph's own 64-level rule answers), 129 do not", async () => {
    const forge = await startForge();
    // mutation { createRun(input: { graph: { steps: { a: { params: { x: [[...]] } } } } }) { id } }: 7 levels before the list.
    const withList = (levels: number) =>
      `mutation { createRun(input: { mode: LIVE, jobType: "j", requestedBy: "r", graph: { steps: { a: { type: "noop", params: { x: ${"[".repeat(levels)}${"]".repeat(levels)} } } } } }) { id } }`;
    const atLimit = await ask(forge, withList(128 - 7));
    expect(atLimit.error?.message).not.toContain("FORGE_MAX_NESTING");
    expect(atLimit.error?.extensions?.code).toBe("BAD_USER_INPUT");
    expect((await ask(forge, withList(129 - 7))).error).toEqual(refusedFor("FORGE_MAX_NESTING"));
    // A realistic nesting is simply created.
    const created = await ask(forge, withList(50));
    expect(created.error).toBeUndefined();
    expect(await forge.app.forge.db.read.run.count()).toBe(1);
  });
});

describe("the cost limit's memory of costs", () => {
  // Omitted, $n takes its default (a page of 1); null makes `first` null, which is the
  // field's own default page of 50: 50 runs of 1,000 events each, over the limit.
  const query = "query($n: Int = 1) { runs(first: $n) { edges { node { id events(first: 1000) { id seq type } } } } }";

  it.for([
    ["omitted first", [{}, { n: null }]],
    ["null first", [{ n: null }, {}]],
  ] as const)("an omitted variable and a null one are priced apart, whichever comes first (%s)", async ([, order]) => {
    const forge = await startForge();
    const answers = [];
    for (const variables of order) answers.push(await ask(forge, query, variables as Record<string, unknown>));
    const byNull = answers[order.findIndex((v) => "n" in v)];
    const byOmitted = answers[order.findIndex((v) => !("n" in v))];
    expect(byOmitted?.error).toBeUndefined();
    expect(byNull?.error).toEqual(refusedFor("FORGE_MAX_COST"));
  });
});

describe("repeated fields, which validation compares two by two", () => {
  const copies = (n: number) => `{ ${"runs { edges { node { id } } } ".repeat(n)} }`;
  const bomb = `query { ...F0 }\n${Array.from({ length: 25 }, (_, i) => `fragment F${i} on Query { ...F${i + 1} ...F${i + 1} }`).join("\n")}
    fragment F25 on Query { runs { edges { cursor } } }`;

  it("400 copies of a nested field and a fragment spreading the next twice, 25 deep, are refused naming FORGE_MAX_FIELD_COMPARISONS", async () => {
    const forge = await startForge();
    // Under every other limit: 3,600 tokens, no alias, depth 4, a cost of 40,400 / 2^25 spreads.
    for (const query of [copies(400), bomb]) {
      const refused = await ask(forge, query);
      expect(refused.status).toBe(400);
      expect(refused.error).toEqual(refusedFor("FORGE_MAX_FIELD_COMPARISONS"));
    }
  });

  it("a chain of 2,000 fragments, each spreading the next, is refused naming FORGE_MAX_NESTING, not a 500", async () => {
    const forge = await startForge();
    const chain2000 = `{ ...F0 }\n${Array.from({ length: 2000 }, (_, i) => `fragment F${i} on Query { ...F${i + 1} }`).join("\n")}
      fragment F2000 on Query { __typename }`;
    const refused = await ask(forge, chain2000);
    expect(refused.status).toBe(400);
    expect(refused.error).toEqual(refusedFor("FORGE_MAX_NESTING"));
  });

  it("a few repeats pass (the count is of comparisons, not of fields), and the limit is raised by its variable", async () => {
    const forge = await startForge();
    expect((await ask(forge, copies(40))).error).toBeUndefined();
    expect((await ask(forge, copies(100))).error).toEqual(refusedFor("FORGE_MAX_FIELD_COMPARISONS"));
    const raised = await startForge({ env: { FORGE_MAX_FIELD_COMPARISONS: "1000000" } });
    expect((await ask(raised, copies(100))).error).toBeUndefined();
  });
});

describe("the size of an answer", () => {
  it("100 aliases of a run holding 1 MiB of params are refused past FORGE_MAX_ANSWER_BYTES, each charged by its stored size", async () => {
    const forge = await startForge({ env: { FORGE_MAX_ANSWER_BYTES: String(8 * MiB) } });
    const run = await forge.app.forge.createRun(runInput({ params: { blob: "x".repeat(MiB) } }));
    const aliases = Array.from({ length: 100 }, (_, i) => `a${i}: run(id: "${run.id}") { id params }`).join(" ");
    const answer = await forge.gql(`{ ${aliases} }`);
    // The first eight fit; every other alias answers null with the limit named.
    const data = answer.data as Record<string, { params: unknown } | null>;
    expect(Object.values(data).filter((a) => a !== null)).toHaveLength(7);
    expect(answer.errors?.length).toBe(93);
    expect(answer.errors?.[0]).toMatchObject({ message: expect.stringContaining("FORGE_MAX_ANSWER_BYTES"), ...BAD_USER_INPUT });
    expect(answer.errors?.every((e) => e.path?.length === 2 && e.path[1] === "params")).toBe(true);
  });

  it("a run's JSON columns are parsed when first read, so a refused value is never built", () => {
    const row = { ...rawRunRow(), params: "{ not json", graph: '{"steps":{}}' };
    const run = toRunRecord(row);
    expect(storedJsonLength(run, "params")).toBe("{ not json".length);
    expect(() => run.params).toThrow(SyntaxError); // only now
    expect(run.graph).toEqual({ steps: {} });
  });

  it("a subscription's budget is per event, and ordinary answers are untouched", async () => {
    const forge = await startForge({ env: { FORGE_MAX_ANSWER_BYTES: "4096" } });
    const run = await forge.app.forge.createRun(runInput({ params: { note: "n".repeat(1000) } }));
    expect((await forge.gql(`{ run(id: "${run.id}") { params graph policy } }`)).errors).toBeUndefined();
    const url = await forge.app.start();
    const sub = subscribe(wsClient(url), RunEventsSubscription, { runId: run.id });
    await forge.app.forge.tickOnce(10);
    await sub.done;
    expect(sub.errors).toEqual([]);
    expect(sub.items.length).toBeGreaterThan(3);
  });
});

describe("request bodies", () => {
  /** A JSON request body of exactly `bytes` bytes (the padding is an unused variable). */
  function bodyOf(bytes: number): string {
    const empty = JSON.stringify({ query: "{ __typename }", variables: { pad: "" } });
    return JSON.stringify({ query: "{ __typename }", variables: { pad: "x".repeat(bytes - empty.length) } });
  }

  it("4 MiB is accepted and 4 MiB + 1 refused with 413 BAD_USER_INPUT, with a Content-Length or chunked", async () => {
    const forge = await startForge();
    const url = await forge.app.start();
    const headers = { "content-type": "application/json", accept: "application/graphql-response+json" };
    for (const chunked of [false, true]) {
      const send = (body: string) =>
        rawRequest(url, {
          method: "POST",
          headers,
          ...(chunked ? { chunks: body.match(/[\s\S]{1,65536}/g) ?? [] } : { body }),
        });
      const ok = await send(bodyOf(4 * MiB));
      expect(ok.status, `chunked: ${chunked}`).toBe(200);
      expect(ok.json()).toEqual({ data: { __typename: "Query" } });
      const refused = await send(bodyOf(4 * MiB + 1));
      expect(refused.status, `chunked: ${chunked}`).toBe(413);
      expect(refused.firstError()).toEqual({ message: expect.stringContaining("FORGE_MAX_BODY_BYTES"), ...BAD_USER_INPUT });
    }
  });

  it("a body that is not JSON, or not an object, is 400 BAD_USER_INPUT saying so, whether small or parsed in pieces", async () => {
    const forge = await startForge();
    const url = await forge.app.start();
    const send = (body: string) => rawRequest(url, { method: "POST", headers: { "content-type": "application/json" }, body });
    // Large enough to be parsed in pieces, with many members: one comma between them dropped.
    const large = JSON.stringify({ query: "{ __typename }", variables: { pad: Array.from({ length: 20_000 }, () => "x".repeat(50)) } });
    const middle = large.indexOf('","', large.length / 2);
    const broken = `${large.slice(0, middle + 1)} ${large.slice(middle + 2)}`;
    for (const [body, problem] of [
      ['{"query": ', /not valid JSON/],
      [broken, /not valid JSON/],
      ["null", /must be a JSON object.*not null/],
      ['"{ __typename }"', /must be a JSON object.*not string/],
    ] as const) {
      const answer = await send(body);
      expect(answer.status, body.slice(0, 20)).toBe(400);
      expect(answer.firstError(), body.slice(0, 20)).toEqual({
        message: expect.stringMatching(problem),
        extensions: { code: "BAD_USER_INPUT" },
      });
    }
    // A large body is parsed by the same rules (src/api/json-body.ts).
    expect((await send(large)).json()).toEqual({ data: { __typename: "Query" } });
    expect((await rawRequest(url, { method: "POST", headers: { "content-type": "Application/JSON" }, body: large })).status).toBe(200);
  });

  it("a large body nesting arrays past FORGE_MAX_NESTING is refused naming it", async () => {
    const forge = await startForge();
    const url = await forge.app.start();
    const nested = (depth: number) =>
      `{"query": "{ __typename }", "variables": {"pad": ${"[".repeat(depth)}"${"x".repeat(MiB)}"${"]".repeat(depth)}}}`;
    const send = (body: string) => rawRequest(url, { method: "POST", headers: { "content-type": "application/json" }, body });
    const refused = await send(nested(200));
    // Answered as the document's own nesting limit is: a request error (400; no Accept header
    // means application/graphql-response+json).
    expect(refused.status).toBe(400);
    expect(refused.firstError()).toEqual({ message: expect.stringContaining("FORGE_MAX_NESTING"), ...BAD_USER_INPUT });
    expect((await send(nested(100))).json()).toEqual({ data: { __typename: "Query" } });
  });

  it("FORGE_MAX_BODY_BYTES raises the limit", async () => {
    const forge = await startForge({ env: { FORGE_MAX_BODY_BYTES: String(5 * MiB) } });
    const url = await forge.app.start();
    const ok = await rawRequest(url, { method: "POST", headers: { "content-type": "application/json" }, body: bodyOf(4 * MiB + 1) });
    expect(ok.status).toBe(200);
  });
});

/** A raw graphql-ws connection (no client library), open but not initialised; `messages` collects what the server sends. */
async function openSocket(url: string) {
  const socket = new WebSocket(url.replace(/^http/, "ws"), "graphql-transport-ws");
  const messages: any[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on("close", (code, reason) => resolve({ code, reason: String(reason) })),
  );
  socket.on("message", (data) => messages.push(JSON.parse(String(data))));
  socket.on("error", () => {});
  await new Promise((resolve) => socket.once("open", resolve));
  return { socket, messages, closed };
}

/** A raw graphql-ws connection, acknowledged. */
async function rawSocket(url: string) {
  const opened = await openSocket(url);
  opened.socket.send(JSON.stringify({ type: "connection_init" }));
  await waitFor(() => opened.messages.some((m) => m.type === "connection_ack"), "connection_ack");
  return opened;
}

describe("document limits over graphql-ws", () => {
  it("the same limits refuse with BAD_USER_INPUT, without HTTP details, and the connection goes on", async () => {
    const forge = await startForge();
    const url = await forge.app.start();
    const { socket, messages } = await rawSocket(url);
    const cases: Array<[string, string, Record<string, unknown>?]> = [
      [documentOfTokens(20_001), "FORGE_MAX_TOKENS"],
      [documentOfDepth(17), "FORGE_MAX_DEPTH"],
      [documentOfAliases(101), "FORGE_MAX_ALIASES"],
      [RUNS_WITH_EVENTS, "FORGE_MAX_COST", { n: 246 }],
      [`{ run(id: ${"[".repeat(5000)}${"]".repeat(5000)}) { id } }`, "FORGE_MAX_NESTING"],
    ];
    for (const [i, [query, variable, variables]] of cases.entries()) {
      socket.send(JSON.stringify({ id: `q${i}`, type: "subscribe", payload: { query, variables } }));
      await waitFor(() => messages.some((m) => m.id === `q${i}` && (m.type === "error" || m.type === "next")), variable);
      const answer = messages.find((m) => m.id === `q${i}`);
      const errors = answer.type === "error" ? answer.payload : answer.payload.errors;
      expect(errors, variable).toEqual([{ message: expect.stringContaining(variable), extensions: { code: "BAD_USER_INPUT" } }]);
    }
    socket.send(JSON.stringify({ id: "ok", type: "subscribe", payload: { query: "{ __typename }" } }));
    await waitFor(() => messages.some((m) => m.id === "ok" && m.type === "complete"), "a query after the refusals");
    expect(messages.find((m) => m.id === "ok" && m.type === "next").payload).toEqual({ data: { __typename: "Query" } });
    socket.close();
  });

  it("a message of 4 MiB is answered, one of 4 MiB + 1 or 5 MiB closes the connection with 1009", async () => {
    const forge = await startForge();
    const url = await forge.app.start();
    const message = (bytes: number) => {
      const empty = JSON.stringify({ id: "big", type: "subscribe", payload: { query: "{ __typename }", variables: { pad: "" } } });
      return JSON.stringify({
        id: "big",
        type: "subscribe",
        payload: { query: "{ __typename }", variables: { pad: "x".repeat(bytes - empty.length) } },
      });
    };
    const ok = await rawSocket(url);
    ok.socket.send(message(4 * MiB));
    await waitFor(() => ok.messages.some((m) => m.id === "big" && m.type === "complete"), "the 4 MiB message's answer");
    ok.socket.close();
    for (const bytes of [4 * MiB + 1, 5 * MiB]) {
      const { socket, closed } = await rawSocket(url);
      socket.send(message(bytes));
      expect((await closed).code).toBe(1009);
    }
  });

  it("a large message (parsed in pieces) is handled before the message sent right after it", async () => {
    const forge = await startForge();
    const url = await forge.app.start();
    const { socket, messages, closed } = await rawSocket(url);
    // Handed over out of order, the query's answer would come before the ping's pong.
    socket.send(JSON.stringify({ type: "ping", payload: { pad: "x".repeat(MiB), list: Array.from({ length: 50_000 }, (_, i) => i) } }));
    socket.send(JSON.stringify({ id: "after", type: "subscribe", payload: { query: "{ __typename }" } }));
    await waitFor(() => messages.some((m) => m.id === "after" && m.type === "complete"), "the answer to the message after it");
    expect(messages.map((m) => m.type)).toEqual(["connection_ack", "pong", "next", "complete"]);
    socket.close();
    expect((await closed).code).toBe(1005);
  });

  it("before the connection is acknowledged, a message over 256 KiB closes it with 4400 (it would be parsed before the token is checked)", async () => {
    const forge = await startForge();
    const url = await forge.app.start();
    const { socket, closed } = await openSocket(url);
    socket.send(JSON.stringify({ type: "connection_init", payload: { pad: "x".repeat(MiB) } }));
    expect(await closed).toEqual({ code: 4400, reason: expect.stringContaining("before the connection is acknowledged") });
  });

  it("a client that goes away while its large message is parsed leaves no operation behind", async () => {
    const forge = await startForge({ env: { FORGE_MAX_SUBSCRIPTIONS: "2" } });
    const url = await forge.app.start();
    const big = JSON.stringify({ type: "ping", payload: { xs: Array.from({ length: 700_000 }, (_, i) => i % 10) } });
    for (let round = 0; round < 3; round++) {
      const { socket, closed } = await rawSocket(url);
      socket.send(big);
      socket.send(JSON.stringify({ id: "s", type: "subscribe", payload: { query: "subscription { events { id } }" } }));
      socket.terminate();
      await closed;
    }
    // Let any parse still queued finish; then a well-behaved client must still be admitted.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(forge.app.forge.feed.listenerCount).toBe(0);
    const { socket, messages } = await rawSocket(url);
    socket.send(JSON.stringify({ id: "ok", type: "subscribe", payload: { query: "subscription { events { id } }" } }));
    await new Promise((resolve) => setTimeout(resolve, 200)); // the subscription takes hold
    await forge.gql(CreateRuns, { inputs: [runInput()] });
    await waitFor(() => messages.some((m) => m.id === "ok"), "an event for the well-behaved client");
    expect(messages.find((m) => m.id === "ok").type).toBe("next");
    socket.close();
  });

  it("a message that is not JSON, not an object, or nests past FORGE_MAX_NESTING closes the connection with 4400 saying why", async () => {
    const forge = await startForge();
    const url = await forge.app.start();
    const large = "x".repeat(MiB);
    const cases: Array<[string, string]> = [
      ['{"type": "ping"', "not valid JSON"],
      [`{"type": "ping", "payload": {"pad": "${large}"}`, "not valid JSON"],
      [JSON.stringify(JSON.stringify({ type: "ping" })), "not a JSON object"],
      [JSON.stringify(`${large}`), "not a JSON object"],
      [`{"type": "ping", "payload": ${"[".repeat(200)}"${large}"${"]".repeat(200)}}`, "FORGE_MAX_NESTING"],
    ];
    for (const [text, problem] of cases) {
      const { socket, closed } = await rawSocket(url);
      socket.send(text);
      expect(await closed, problem).toEqual({ code: 4400, reason: expect.stringContaining(problem) });
    }
  });
});

/** Forces a full garbage collection (V8's gc, exposed at run time). */
const gc: () => void = (() => {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc");
})();

function heapUsed(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

describe("the parsed-document cache", () => {
  it("40 distinct 3 MiB documents grow the heap by no more than the cache's budget (32 MiB) and a margin", {
    timeout: 120_000,
  }, async () => {
    const forge = await startForge();
    // Warm up whatever a first request allocates once.
    await ask(forge, "{ __typename }");
    const before = heapUsed();
    for (let i = 0; i < 40; i++) {
      // Each document is distinct and mostly a comment: cheap to parse, and kept whole by the cache.
      const result = await ask(forge, `{ __typename } # ${i} ${"x".repeat(3 * MiB)}`);
      expect(result.error).toBeUndefined();
    }
    const growth = heapUsed() - before;
    // Unbounded, the documents alone would hold 40 × 3 MiB = 120 MiB.
    expect(growth).toBeLessThan(32 * MiB + 16 * MiB);
  });
});

describe("subscriptions per connection and per process", () => {
  it("the 101st subscription on one connection is refused while the first 100 still receive their events", async () => {
    const forge = await startForge();
    const url = await forge.app.start();
    const id = (await forge.gql(CreateRuns, { inputs: [runInput({ graph: chain(2) })] })).data?.createRuns[0]?.id as string;
    const client = wsClient(url);
    // One subscription that never ends keeps the connection open throughout (the client is lazy).
    const everything = subscribe(client, AllEventsSubscription, { afterId: "0" });
    const subs = Array.from({ length: 99 }, () => subscribe(client, RunEventsSubscription, { runId: id }));
    await waitFor(() => everything.items.length === 1 && subs.every((s) => s.items.length === 1), "run_created on all 100");
    const refused = subscribe(client, RunEventsSubscription, { runId: id });
    await expect(refused.done).rejects.toEqual([
      { message: expect.stringContaining("FORGE_MAX_SUBSCRIPTIONS_PER_CONNECTION"), extensions: { code: "BAD_USER_INPUT" } },
    ]);
    await forge.gql(TickOnce, {});
    await Promise.all(subs.map((s) => s.done));
    for (const sub of subs) expect(sub.items.map((i) => i.runEvents.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    await waitFor(() => everything.items.length === 7, "every event on the never-ending one");
    // The 99 that finished gave their places back on the same connection.
    const again = Array.from({ length: 99 }, () => subscribe(client, RunEventsSubscription, { runId: id }));
    await Promise.all(again.map((s) => s.done));
    expect(again.every((s) => s.items.length === 7)).toBe(true);
  });

  it("past FORGE_MAX_SUBSCRIPTIONS on the process a subscribe is refused, and admitted again once one ends", async () => {
    const forge = await startForge({ env: { FORGE_MAX_SUBSCRIPTIONS: "3" } });
    const url = await forge.app.start();
    const id = (await forge.gql(CreateRuns, { inputs: [runInput()] })).data?.createRuns[0]?.id as string;
    const [one, two] = [wsClient(url), wsClient(url)];
    const open = [subscribe(one, RunEventsSubscription, { runId: id }), subscribe(one, RunEventsSubscription, { runId: id })];
    open.push(subscribe(two, RunEventsSubscription, { runId: id }));
    await waitFor(() => open.every((s) => s.items.length === 1), "three followers");
    const refused = subscribe(two, RunEventsSubscription, { runId: id });
    await expect(refused.done).rejects.toEqual([
      { message: expect.stringContaining("FORGE_MAX_SUBSCRIPTIONS"), extensions: { code: "SERVICE_UNAVAILABLE" } },
    ]);
    open[0]?.close();
    await waitFor(() => forge.app.forge.feed.listenerCount === 2, "the closed one to let go");
    const admitted = subscribe(two, RunEventsSubscription, { runId: id });
    await waitFor(() => admitted.items.length === 1, "a subscription in the freed place");
  });
});

describe("a subscriber that stops reading", () => {
  it("is disconnected once 1 MiB is left unsent, while another subscriber still gets events promptly", { timeout: 60_000 }, async () => {
    const forge = await startForge();
    const url = await forge.app.start();
    const query = 'subscription { events(afterId: "0") { id type data } }';
    // The reader that stops: a raw socket whose TCP stream is paused after subscribing.
    const stalled = await rawSocket(url);
    stalled.socket.send(JSON.stringify({ id: "all", type: "subscribe", payload: { query } }));
    const reader = subscribe(wsClient(url), query as never, {});
    await waitFor(() => forge.app.forge.feed.listenerCount === 2, "both followers");
    (stalled.socket as unknown as { _socket: { pause(): void } })._socket.pause();

    // Runs whose events are large: each retry of a failing step records its 50 KB message.
    const message = "m".repeat(50_000);
    const graph = { steps: { f: { type: "fail", params: { message, times: 19 }, retry: { maxAttempts: 20, backoffMs: 0 } } } };
    const receivedAt = new Map<string, number>();
    const seen = () => {
      for (const item of reader.items as Array<{ events: { id: string } }>)
        if (!receivedAt.has(item.events.id)) receivedAt.set(item.events.id, Date.now());
    };
    for (let round = 0; round < 20 && forge.app.forge.feed.listenerCount === 2; round++) {
      await forge.gql(CreateRuns, { inputs: Array.from({ length: 5 }, () => runInput({ graph })) });
      while ((await forge.gql(TickOnce, { limit: 10 })).data?.tickOnce.ticked) {}
      const last = (await forge.app.forge.db.read.event.aggregate({ _max: { id: true } }))._max.id;
      const committedAt = Date.now();
      await waitFor(() => {
        seen();
        return receivedAt.has(String(last));
      }, "the other reader to get the round's last event");
      // The other reader is not held back by the stalled one.
      expect(Date.now() - committedAt).toBeLessThan(5000);
    }
    await waitFor(() => forge.app.forge.feed.listenerCount === 1, "the stalled reader's follower to let go");
    stalled.socket.terminate();
  });
});
