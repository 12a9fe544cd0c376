import { buildClientSchema, getIntrospectionQuery, lexicographicSortSchema, printSchema } from "graphql";
import { auditServer } from "graphql-http";
import { describe, expect, it } from "vitest";
import { schema } from "../src/api/schema/index.ts";
import { ADMIN, runInput, startForge, type TestForge } from "./support/forge.ts";
import { wsClient } from "./support/ws.ts";

/**
 * GraphQL over HTTP as the contract states it (API.md, "Errors"), checked with software
 * nobody here wrote (graphql-http's audits) and case by case; and one error mapping for
 * HTTP and graphql-ws: the same document gets the same code on both, with no extension
 * but the code.
 */

const GRAPHQL_RESPONSE = "application/graphql-response+json";
const JSON_MEDIA = "application/json";

interface Answer {
  status: number;
  type: string | null;
  body: { data?: unknown; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };
}

async function post(forge: TestForge, accept: string, body: unknown, token: string | null = null): Promise<Answer> {
  const headers: Record<string, string> = { "content-type": "application/json", accept };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await forge.app.yoga.fetch("http://forge.test/graphql", {
    method: "POST",
    headers,
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: response.status, type: response.headers.get("content-type"), body: (await response.json()) as Answer["body"] };
}

/** Every request of the table below, by what it is, with the code it gets and its status for each media type. */
interface Case {
  what: string;
  body: unknown;
  token?: string;
  code: string;
  statuses: Record<"grj" | "json", number>;
  data: "absent" | "null" | "some";
}

/** The run some cases name. */
const RUN_ID = "the-run";

const CASES: Case[] = [
  { what: "a syntax error", body: { query: "{ run(id: " }, code: "BAD_USER_INPUT", statuses: { grj: 400, json: 200 }, data: "absent" },
  { what: "an unknown field", body: { query: "{ runz }" }, code: "BAD_USER_INPUT", statuses: { grj: 400, json: 200 }, data: "absent" },
  {
    what: "an ill-typed variable",
    body: { query: "query($n: Int!) { runs(first: $n) { pageInfo { hasNextPage } } }", variables: { n: "many" } },
    code: "BAD_USER_INPUT",
    statuses: { grj: 400, json: 200 },
    data: "absent",
  },
  {
    what: "a document over a request limit (depth)",
    body: {
      query: `{ ${"__schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } } } } } }"} }`,
    },
    code: "BAD_USER_INPUT",
    statuses: { grj: 400, json: 200 },
    data: "absent",
  },
  { what: "a body that is not JSON", body: '{"query": ', code: "BAD_USER_INPUT", statuses: { grj: 400, json: 400 }, data: "absent" },
  { what: "a body without a query", body: { variables: {} }, code: "BAD_USER_INPUT", statuses: { grj: 400, json: 400 }, data: "absent" },
  {
    what: "an operationName that is not a string",
    body: { query: "{ __typename }", operationName: { name: "A" } },
    code: "BAD_USER_INPUT",
    statuses: { grj: 400, json: 400 },
    data: "absent",
  },
  {
    what: "a document of two operations without an operationName",
    body: { query: "query A { __typename } query B { __typename }" },
    code: "BAD_USER_INPUT",
    statuses: { grj: 400, json: 200 },
    data: "absent",
  },
  {
    what: "a null through a variable with a default, for a non-null argument",
    body: { query: 'query($id: ID = "x") { runEvents(runId: $id) { id } }', variables: { id: null } },
    code: "BAD_USER_INPUT",
    statuses: { grj: 200, json: 200 },
    data: "null",
  },
  {
    what: "a null through a variable with a default, for a directive's argument",
    body: { query: "query($b: Boolean = true) { __typename @skip(if: $b) }", variables: { b: null } },
    code: "BAD_USER_INPUT",
    statuses: { grj: 400, json: 200 },
    data: "absent",
  },
  {
    what: "an admin mutation without the admin token",
    body: { query: "mutation { tickOnce(limit: 1) { ticked } }" },
    code: "FORBIDDEN",
    statuses: { grj: 403, json: 200 },
    data: "null",
  },
  {
    what: "a mutation naming a run that does not exist",
    body: { query: 'mutation { signalRun(runId: "nope", stepId: "s") { id } }' },
    token: ADMIN,
    code: "NOT_FOUND",
    statuses: { grj: 200, json: 200 },
    data: "null",
  },
  {
    what: "an invalid argument of a nullable field beside a field that answers",
    body: { query: `{ __typename run(id: "${RUN_ID}") { events(first: 5000) { seq } } }` },
    code: "BAD_USER_INPUT",
    statuses: { grj: 200, json: 200 },
    data: "some",
  },
];

describe("GraphQL over HTTP", () => {
  it("graphql-http's server audits all pass against a real server, with no warning and no notice", async () => {
    const forge = await startForge();
    const url = await forge.app.start();
    const results = await auditServer({ url });
    expect(results.length).toBeGreaterThan(50);
    const notOk = results.filter((r) => r.status !== "ok").map((r) => `${r.status} ${r.id} ${r.name}: ${"reason" in r ? r.reason : ""}`);
    expect(notOk).toEqual([]);
  });

  it.for(CASES)("$what: the contract's code and status for either media type, with no extension but the code", async (c) => {
    const forge = await startForge();
    await forge.gql("mutation($input: CreateRunInput!) { createRun(input: $input) { id } }", { input: runInput({ id: RUN_ID }) });
    for (const [key, accept] of [
      ["grj", GRAPHQL_RESPONSE],
      ["json", JSON_MEDIA],
    ] as const) {
      const answer = await post(forge, accept, c.body, c.token);
      expect({ accept, status: answer.status, type: answer.type }).toEqual({
        accept,
        status: c.statuses[key],
        type: `${accept}; charset=utf-8`,
      });
      expect(answer.body.errors?.map((e) => e.extensions)).toEqual([{ code: c.code }]);
      if (c.data === "absent") expect("data" in answer.body).toBe(false);
      else if (c.data === "null") expect(answer.body.data).toBeNull();
      else expect(answer.body.data).toEqual(expect.objectContaining({ __typename: "Query" }));
    }
  });

  it("an unexpected failure is 500 INTERNAL_SERVER_ERROR in application/graphql-response+json and 200 in application/json", async () => {
    const forge = await startForge();
    await forge.app.forge.db.write(async (tx) => {
      await tx.$executeRawUnsafe("DROP TABLE artifacts");
      await tx.$executeRawUnsafe("DROP TABLE events");
      await tx.$executeRawUnsafe("DROP TABLE steps");
      await tx.$executeRawUnsafe("DROP TABLE runs");
    });
    const query = { query: "{ runs { edges { node { id } } } }" };
    for (const [accept, status] of [
      [GRAPHQL_RESPONSE, 500],
      [JSON_MEDIA, 200],
    ] as const) {
      const answer = await post(forge, accept, query);
      expect(answer.status).toBe(status);
      expect(answer.body).toEqual({
        data: null,
        errors: [expect.objectContaining({ message: "Internal server error", extensions: { code: "INTERNAL_SERVER_ERROR" } })],
      });
    }
  });

  it("a request without Accept is answered in application/graphql-response+json, by its statuses", async () => {
    const forge = await startForge();
    const ok = await forge.app.yoga.fetch("http://forge.test/graphql", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ __typename }" }),
    });
    expect([ok.status, ok.headers.get("content-type")]).toEqual([200, `${GRAPHQL_RESPONSE}; charset=utf-8`]);
    const refused = await forge.app.yoga.fetch("http://forge.test/graphql", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ runz }" }),
    });
    expect([refused.status, refused.headers.get("content-type")]).toEqual([400, `${GRAPHQL_RESPONSE}; charset=utf-8`]);
  });

  it("the standard introspection query succeeds over a real connection and rebuilds the served schema", async () => {
    const forge = await startForge();
    const url = await forge.app.start();
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: GRAPHQL_RESPONSE },
      body: JSON.stringify({ query: getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, inputValueDeprecation: true }) }),
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { data: Parameters<typeof buildClientSchema>[0]; errors?: unknown };
    expect(body.errors).toBeUndefined();
    expect(printSchema(lexicographicSortSchema(buildClientSchema(body.data)))).toBe(printSchema(lexicographicSortSchema(schema)));
  });
});

/** What graphql-ws sends for one operation: the errors of its `error` message, or of its first `next`. */
async function overWs(url: string, body: { query: string; variables?: Record<string, unknown> }, token: string | null = null) {
  const client = wsClient(url, token);
  return await new Promise<{ errors: Array<{ message: string; extensions?: Record<string, unknown> }>; data?: unknown }>(
    (resolve, reject) => {
      const stop = client.subscribe(body, {
        next: (value) => {
          stop();
          resolve({ errors: (value.errors ?? []) as never, data: value.data });
        },
        error: (error) => (Array.isArray(error) ? resolve({ errors: error as never }) : reject(error)),
        complete: () => resolve({ errors: [] }),
      });
    },
  );
}

describe("one error mapping for HTTP and graphql-ws", () => {
  // graphql-ws has no request body: the cases about one do not apply, nor does a malformed operationName.
  const shared = CASES.filter(
    (c) => typeof c.body === "object" && c.body !== null && "query" in c.body && !("operationName" in c.body) && c.statuses.json !== 400,
  );

  it.for(shared)("$what: the same code and message over graphql-ws as over HTTP, and no extension but the code", async (c) => {
    const forge = await startForge();
    await forge.gql("mutation($input: CreateRunInput!) { createRun(input: $input) { id } }", { input: runInput({ id: RUN_ID }) });
    const url = await forge.app.start();
    const http = await post(forge, GRAPHQL_RESPONSE, c.body, c.token);
    const ws = await overWs(url, c.body as { query: string; variables?: Record<string, unknown> }, c.token);
    expect(ws.errors.map((e) => ({ message: e.message, extensions: e.extensions }))).toEqual(
      http.body.errors?.map((e) => ({ message: e.message, extensions: e.extensions })),
    );
  });

  it("a subscription to a run that does not exist ends with NOT_FOUND, its only extension", async () => {
    const forge = await startForge();
    const url = await forge.app.start();
    const ws = await overWs(url, { query: 'subscription { runEvents(runId: "nope") { seq } }' });
    expect(ws.errors).toEqual([expect.objectContaining({ extensions: { code: "NOT_FOUND" } })]);
  });
});
