import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { ConfigError, loadConfig } from "../src/config.ts";
import { RunEventsSubscription } from "./support/documents.ts";
import { API, runInput, startForge } from "./support/forge.ts";
import { rawRequest } from "./support/raw-http.ts";
import { waitFor } from "./support/wait.ts";
import { subscribe, wsClient } from "./support/ws.ts";

const CREATE = JSON.stringify({
  query: "mutation($input: CreateRunInput!) { createRun(input: $input) { id } }",
  variables: { input: runInput() },
});
const DASHBOARD = "https://dash.example.com";
const EVIL = "https://evil.example";

async function started(env: Record<string, string> = {}) {
  const forge = await startForge({ env });
  const url = await forge.app.start();
  return { forge, url, origin: new URL(url).origin, runs: () => forge.app.forge.db.read.run.count() };
}

function post(url: string, headers: Record<string, string>, body = CREATE) {
  return rawRequest(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
}

/** Opens a WebSocket the way a browser page would, with an Origin; resolves how the upgrade ended. */
function upgrade(url: string, origin: string | undefined): Promise<{ opened: WebSocket } | { status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url.replace(/^http/, "ws"), "graphql-transport-ws", origin ? { origin } : {});
    socket.once("open", () => resolve({ opened: socket }));
    socket.once("unexpected-response", (_req, res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString("utf8") }));
    });
    socket.once("error", (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
}

describe("cross-origin requests", () => {
  it("a POST from a foreign Origin is refused with 403 FORBIDDEN and creates nothing", async () => {
    const { url, runs } = await started();
    const refused = await post(url, { origin: EVIL });
    expect(refused.status).toBe(403);
    expect(refused.firstError()).toEqual({ message: expect.stringContaining("FORGE_CORS_ORIGINS"), extensions: { code: "FORBIDDEN" } });
    expect(refused.headers["access-control-allow-origin"]).toBeUndefined();
    // A GET query from a foreign page is refused too (its answer could be read with CORS).
    const get = await rawRequest(`${url}?query=${encodeURIComponent("{ __typename }")}`, { headers: { origin: EVIL } });
    expect(get.status).toBe(403);
    expect(await runs()).toBe(0);
  });

  it("an origin listed in FORGE_CORS_ORIGINS gets CORS headers, and its preflight is answered", async () => {
    const { url, runs } = await started({ FORGE_CORS_ORIGINS: `${DASHBOARD}, http://localhost:8080` });
    const preflight = await rawRequest(url, {
      method: "OPTIONS",
      headers: {
        origin: DASHBOARD,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers).toMatchObject({
      "access-control-allow-origin": DASHBOARD,
      "access-control-allow-credentials": "true",
      "access-control-allow-methods": expect.stringContaining("POST"),
    });
    const allowedHeaders = String(preflight.headers["access-control-allow-headers"]).toLowerCase();
    expect(allowedHeaders).toContain("authorization");
    expect(allowedHeaders).toContain("content-type");

    const created = await post(url, { origin: DASHBOARD });
    expect(created.status).toBe(200);
    expect(created.json().data.createRun.id).toEqual(expect.any(String));
    expect(created.headers["access-control-allow-origin"]).toBe(DASHBOARD);
    expect(created.headers["access-control-allow-credentials"]).toBe("true");
    expect(created.headers.vary).toMatch(/Origin/);
    // Listing some origins opens no others.
    expect((await post(url, { origin: EVIL })).status).toBe(403);
    expect(await runs()).toBe(1);
  });

  it("a foreign origin's preflight gets no CORS headers, so a browser never sends the request", async () => {
    const { url } = await started({ FORGE_CORS_ORIGINS: DASHBOARD });
    const preflight = await rawRequest(url, {
      method: "OPTIONS",
      headers: { origin: EVIL, "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
    });
    expect(preflight.headers["access-control-allow-origin"]).toBeUndefined();
  });

  it("the API's own origin is allowed: scheme, host and port as the Host header gives them", async () => {
    const { url, origin, runs } = await started();
    expect((await post(url, { origin })).status).toBe(200);
    // Reached by another name, the page's origin is that name.
    const port = new URL(url).port;
    expect((await post(url, { origin: `http://localhost:${port}`, host: `localhost:${port}` })).status).toBe(200);
    // Another port or another scheme is another origin.
    expect((await post(url, { origin: `http://127.0.0.1:${Number(port) + 1}` })).status).toBe(403);
    expect((await post(url, { origin: `https://127.0.0.1:${port}` })).status).toBe(403);
    expect((await post(url, { origin: "null" })).status).toBe(403);
    expect(await runs()).toBe(2);
  });

  it("on a loopback-only server, a page whose own name was rebound to 127.0.0.1 is refused over HTTP and WebSocket (DNS rebinding)", async () => {
    const { url, runs } = await started();
    const port = new URL(url).port;
    // The page and the server agree on the name, as DNS rebinding makes them: same origin, but not a loopback name.
    const rebound = { origin: `http://attacker.example:${port}`, host: `attacker.example:${port}` };
    expect((await post(url, rebound)).status).toBe(403);
    expect(await runs()).toBe(0);
    const socket = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(url.replace(/^http/, "ws"), "graphql-transport-ws", {
        origin: rebound.origin,
        headers: { host: rebound.host },
      });
      ws.once("open", () => reject(new Error("the upgrade went through")));
      ws.once("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      ws.once("error", (error) => {
        if (!/Unexpected server response/.test(error.message)) reject(error);
      });
    });
    expect(socket).toBe(403);
    // Loopback names stay same-origin, and a listed origin is allowed whatever the name.
    expect((await post(url, { origin: `http://app.localhost:${port}`, host: `app.localhost:${port}` })).status).toBe(200);
    const listed = await started({ FORGE_CORS_ORIGINS: `http://attacker.example:${port}` });
    expect((await post(listed.url, rebound)).status).toBe(200);
  });

  it("a request without Origin (curl, a server-side client) is not cross-origin", async () => {
    const { url, runs } = await started();
    expect((await post(url, {})).status).toBe(200);
    expect(await runs()).toBe(1);
  });
});

describe("requests a browser sends across origins without a preflight (CSRF)", () => {
  it("form posts, text/plain and bodies without a content type are refused with 415 BAD_USER_INPUT and create nothing", async () => {
    const { url, runs } = await started();
    const form = new URLSearchParams({
      query: 'mutation { createRun(input: {mode: LIVE, jobType: "j", requestedBy: "r", graph: {}}) { id } }',
    });
    const boundary = "----forge";
    const multipart = `--${boundary}\r\nContent-Disposition: form-data; name="query"\r\n\r\n{ __typename }\r\n--${boundary}--\r\n`;
    for (const [contentType, body] of [
      ["application/x-www-form-urlencoded", form.toString()],
      [`multipart/form-data; boundary=${boundary}`, multipart],
      ["text/plain", CREATE],
      ["text/plain;charset=UTF-8", CREATE],
      [null, CREATE],
    ] as const) {
      const headers: Record<string, string> = contentType ? { "content-type": contentType } : {};
      const refused = await rawRequest(url, { method: "POST", headers, body });
      expect(refused.status, String(contentType)).toBe(415);
      expect(refused.firstError()).toEqual({
        message: expect.stringMatching(/^POST bodies must be application\/json/),
        extensions: { code: "BAD_USER_INPUT" },
      });
    }
    expect(await runs()).toBe(0);
    // JSON with a charset is still JSON.
    expect((await post(url, { "content-type": "application/json; charset=utf-8" })).status).toBe(200);
  });

  it("GET queries still work, and mutations over GET stay refused", async () => {
    const { url, runs } = await started();
    const query = await rawRequest(`${url}?query=${encodeURIComponent("{ __typename }")}`, { headers: { accept: "application/json" } });
    expect(query.status).toBe(200);
    expect(query.json()).toEqual({ data: { __typename: "Query" } });
    const mutation = await rawRequest(
      `${url}?query=${encodeURIComponent('mutation { createRun(input: {mode: LIVE, jobType: "j", requestedBy: "r", graph: {steps: {a: {type: "noop"}}}}) { id } }')}`,
    );
    expect(mutation.status).toBe(405);
    expect(await runs()).toBe(0);
  });

  it("GraphiQL is still served at GET /graphql to a browser", async () => {
    const { url } = await started({ FORGE_API_TOKEN: API });
    const page = await rawRequest(url, { headers: { accept: "text/html" } });
    expect(page.status).toBe(200);
    expect(page.headers["content-type"]).toMatch(/text\/html/);
    expect(page.text).toContain("<title>Forge</title>");
  });
});

describe("WebSocket upgrades", () => {
  it("an upgrade from a foreign Origin is refused with HTTP 403 before it completes", async () => {
    const { url, runs } = await started({ FORGE_CORS_ORIGINS: DASHBOARD });
    const refused = await upgrade(url, EVIL);
    expect(refused).toEqual({ status: 403, body: expect.stringContaining("FORGE_CORS_ORIGINS") });
    expect(await runs()).toBe(0);
  });

  it("upgrades from the API's own origin, a listed one, or with no Origin go through and subscribe", async () => {
    const { forge, url, origin } = await started({ FORGE_CORS_ORIGINS: DASHBOARD });
    const id = (await forge.gql("mutation($input: CreateRunInput!) { createRun(input: $input) { id } }", { input: runInput() })).data
      .createRun.id as string;
    for (const from of [origin, DASHBOARD, undefined]) {
      const result = await upgrade(url, from);
      if (!("opened" in result)) throw new Error(`upgrade from ${from} refused with ${result.status}`);
      const socket = result.opened;
      const messages: Array<{ type: string; payload?: { data?: { runEvents: { seq: number } } } }> = [];
      socket.on("message", (data) => messages.push(JSON.parse(String(data))));
      socket.send(JSON.stringify({ type: "connection_init" }));
      await waitFor(() => messages.some((m) => m.type === "connection_ack"), "connection_ack");
      socket.send(
        JSON.stringify({ id: "1", type: "subscribe", payload: { query: String(RunEventsSubscription), variables: { runId: id } } }),
      );
      await waitFor(() => messages.some((m) => m.type === "next"), `run_created over a socket from ${from}`);
      expect(messages.find((m) => m.type === "next")?.payload?.data?.runEvents.seq).toBe(1);
      socket.close();
    }
  });
});

describe("refusals before parsing", () => {
  it("a missing FORGE_API_TOKEN is answered with 403 FORBIDDEN in the media type the client accepts", async () => {
    const { url } = await started({ FORGE_API_TOKEN: API });
    for (const [accept, type] of [
      [null, "application/graphql-response+json"],
      ["application/graphql-response+json", "application/graphql-response+json"],
      ["application/graphql-response+json, application/json;q=0.9", "application/graphql-response+json"],
      ["application/json", "application/json"],
      ["application/json, application/graphql-response+json", "application/json"],
      ["*/*", "application/json"],
    ] as const) {
      const refused = await post(url, accept ? { accept } : {});
      expect(refused.status).toBe(403);
      expect(refused.headers["content-type"], String(accept)).toMatch(new RegExp(`^${type.replace("+", "\\+")}`));
      expect(refused.firstError()?.extensions?.code).toBe("FORBIDDEN");
    }
  });

  it("a subscription behind a refused upgrade never reaches the engine", async () => {
    const { forge, url } = await started();
    const id = (await forge.gql("mutation($input: CreateRunInput!) { createRun(input: $input) { id } }", { input: runInput() })).data
      .createRun.id as string;
    expect("status" in (await upgrade(url, EVIL))).toBe(true);
    expect(forge.app.forge.feed.listenerCount).toBe(0);
    // The same subscription from a client without an Origin is followed.
    const sub = subscribe(wsClient(url), RunEventsSubscription, { runId: id });
    await waitFor(() => sub.items.length === 1, "run_created");
    expect(forge.app.forge.feed.listenerCount).toBe(1);
    sub.close();
  });
});

describe("FORGE_CORS_ORIGINS", () => {
  it("takes comma-separated origins and refuses anything else with one line naming it", () => {
    expect(loadConfig({ FORGE_CORS_ORIGINS: " https://a.example.com,http://localhost:5173 " }).corsOrigins).toEqual([
      "https://a.example.com",
      "http://localhost:5173",
    ]);
    expect(loadConfig({}).corsOrigins).toEqual([]);
    for (const bad of ["*", "https://a.example.com/", "https://a.example.com/app", "dash.example.com", "ftp://a.example.com", "null"]) {
      expect(() => loadConfig({ FORGE_CORS_ORIGINS: `https://ok.example.com,${bad}` })).toThrow(ConfigError);
      try {
        loadConfig({ FORGE_CORS_ORIGINS: bad });
      } catch (error) {
        expect((error as Error).message).toMatch(/^invalid FORGE_CORS_ORIGINS: "/);
        expect((error as Error).message.split("\n")).toHaveLength(1);
      }
    }
  });
});
