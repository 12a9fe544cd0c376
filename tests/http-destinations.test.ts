import { Writable } from "node:stream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { parseAllowList } from "../src/domain/destination.ts";
import { CONNECT_FAILED_HINT } from "../src/engine/steps/http.ts";
import { defaultRegistry } from "../src/engine/steps/index.ts";
import { CreateRun, GetRun } from "./support/documents.ts";
import { runInput, startForge, type TestForge } from "./support/forge.ts";
import { startHttpServer } from "./support/http-server.ts";

/**
 * http steps and internal addresses (API.md, "Outbound requests"): a service that listens
 * only on loopback stays out of reach, whatever the spelling of its address, through a
 * name, or behind a redirect, until FORGE_HTTP_ALLOW_PRIVATE or FORGE_HTTP_ALLOW_HOSTS
 * opens it. Every server here listens on loopback addresses only.
 */

/** A loopback-only service, on 127.0.0.1 and ::1 at one port: what a step must not read by default. */
async function internalService() {
  return startHttpServer((_req, res) => res.end("internal secret"), { hosts: ["127.0.0.1", "::1"] });
}

/** Every way of writing the internal service's host that the URL parser turns into a loopback address. */
const LOOPBACK_SPELLINGS: Array<[spelling: string, normalized: string]> = [
  ["127.0.0.1", "127.0.0.1"],
  ["[::1]", "[::1]"],
  ["2130706433", "127.0.0.1"],
  ["0x7f000001", "127.0.0.1"],
  ["0177.0.0.1", "127.0.0.1"],
  ["127.1", "127.0.0.1"],
  ["0.0.0.0", "0.0.0.0"],
  ["[::ffff:127.0.0.1]", "[::ffff:7f00:1]"],
  ["[::]", "[::]"],
];

const uniform = (method: string, url: string, target: string) =>
  `${method} ${url} failed: could not connect to ${target} (${CONNECT_FAILED_HINT})`;

async function stepsOf(forge: TestForge, runId: string) {
  return Object.fromEntries((await forge.app.forge.steps([runId])).map((s) => [s.id, s]));
}

/** Log lines (JSON) written by a logger made for one test. */
function capturedLog() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  return { log: pino({ level: "warn" }, stream), lines };
}

function allowHosts(list: string) {
  const parsed = parseAllowList(list);
  if (!("entries" in parsed)) throw new Error(parsed.problem);
  return parsed.entries;
}

describe("http steps refuse internal addresses by default", () => {
  it("createRun refuses a URL whose host is an internal address in any spelling (BAD_USER_INPUT naming the url); nothing is sent", async () => {
    const internal = await internalService();
    const forge = await startForge();
    const cases: Array<[url: string, problem: string]> = [
      ...LOOPBACK_SPELLINGS.map(([spelling, normalized]): [string, string] => [
        `http://${spelling}:${internal.port}/secret`,
        `${normalized.replace(/^\[(.*)\]$/, "$1")} is ${normalized.startsWith("0.0.0.0") || normalized === "[::]" ? "the unspecified address" : "a loopback address"}`,
      ]),
      ["http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"],
      ["http://10.0.0.1/", "10.0.0.1 is a private address"],
      ["http://172.16.5.4/", "172.16.5.4 is a private address"],
      ["https://192.168.1.1/admin", "192.168.1.1 is a private address"],
      ["http://100.64.0.1/", "100.64.0.1 is a carrier-grade NAT address"],
      ["http://224.0.0.1/", "224.0.0.1 is a multicast address"],
      ["http://255.255.255.255/", "255.255.255.255 is the broadcast address"],
      ["http://192.0.2.1/", "192.0.2.1 is a reserved address"],
      ["http://[fd00::1]/", "fd00::1 is a unique-local address"],
      ["http://[fe80::1]/", "fe80::1 is a link-local address"],
      ["http://[::ffff:169.254.169.254]/", "::ffff:a9fe:a9fe is a link-local address"],
      ["http://[64:ff9b::7f00:1]/", "64:ff9b::7f00:1 is a loopback address"],
    ];
    for (const [url, problem] of cases) {
      const result = await forge.gql(CreateRun, { input: runInput({ graph: { steps: { call: { type: "http", params: { url } } } } }) });
      expect(result.data, url).toBeNull();
      expect(result.errors?.[0]?.extensions?.code, url).toBe("BAD_USER_INPUT");
      expect(result.errors?.[0]?.message, url).toBe(
        `graph.steps.call.params: "url": ${problem}; internal addresses need FORGE_HTTP_ALLOW_HOSTS or FORGE_HTTP_ALLOW_PRIVATE`,
      );
    }
    expect(await forge.app.forge.db.read.run.count()).toBe(0);
    expect(internal.requests).toHaveLength(0);
  });

  it("a name that resolves to loopback (localhost) is refused when it connects: the uniform error is stored, in step_retrying and step_failed, and returned by the API", async () => {
    const internal = await internalService();
    const forge = await startForge();
    const url = `http://localhost:${internal.port}/secret`;
    const run = await forge.app.forge.createRun(
      runInput({ graph: { steps: { call: { type: "http", params: { url }, retry: { maxAttempts: 2, backoffMs: 0 } } } } }),
    );
    await forge.app.forge.tickOnce(10);
    await forge.app.forge.tickOnce(10);
    const error = uniform("GET", url, `localhost:${internal.port}`);
    const api = (await forge.gql(GetRun, { id: run.id })).data?.run;
    expect(api?.status).toBe("FAILED");
    expect(api?.steps).toMatchObject([{ stepId: "call", status: "FAILED", attempts: 2, error }]);
    const failures = api?.events.filter((e) => e.type === "step_retrying" || e.type === "step_failed");
    expect(failures?.map((e) => [e.type, (e.data as { error?: string }).error])).toEqual([
      ["step_retrying", error],
      ["step_failed", error],
    ]);
    expect(internal.requests).toHaveLength(0);
  });

  it("a followed redirect from an allowed origin to the loopback service is refused at connect time, in every spelling and through localhost", async () => {
    const internal = await internalService();
    const targets = [...LOOPBACK_SPELLINGS, ["localhost", "localhost"] as [string, string]];
    // The allowed origin: 127.0.0.2 is loopback too, opened by FORGE_HTTP_ALLOW_HOSTS alone.
    const redirector = await startHttpServer(
      (req, res) => {
        const [spelling] = targets[Number(req.url.slice("/go/".length))] as [string, string];
        res.statusCode = 302;
        res.setHeader("location", `http://${spelling}:${internal.port}/secret`);
        res.end();
      },
      { hosts: ["127.0.0.2"] },
    );
    const forge = await startForge({ env: { FORGE_HTTP_ALLOW_HOSTS: "127.0.0.2" } });
    const steps = Object.fromEntries(
      targets.map((_, i) => [`hop${i}`, { type: "http", params: { url: `${redirector.url}/go/${i}`, followRedirects: true } }]),
    );
    const run = await forge.app.forge.createRun(runInput({ graph: { steps } }));
    expect((await forge.app.forge.tickOnce(10)).failed).toBe(1);
    const stored = await stepsOf(forge, run.id);
    targets.forEach(([spelling, normalized], i) => {
      expect(stored[`hop${i}`], spelling).toMatchObject({
        status: "FAILED",
        error: uniform("GET", `${redirector.url}/go/${i}`, `${normalized}:${internal.port}`),
      });
    });
    expect(redirector.requests).toHaveLength(targets.length); // every first hop was made
    expect(internal.requests).toHaveLength(0); // and no second one
  });

  it("a closed port and a refused address give the caller identical errors; only the server log tells them apart", async () => {
    const internal = await internalService();
    const url = `http://localhost:${internal.port}/secret`;
    const stepError = async (forge: TestForge) => {
      const run = await forge.app.forge.createRun(runInput({ graph: { steps: { call: { type: "http", params: { url } } } } }));
      await forge.app.forge.tickOnce(10);
      return (await stepsOf(forge, run.id)).call?.error;
    };
    // Refused: the service listens, but localhost is loopback.
    const refusedLog = capturedLog();
    const refused = await stepError(await startForge({ registry: defaultRegistry([], { http: { log: refusedLog.log } }) }));
    expect(internal.requests).toHaveLength(0);
    // Closed: localhost is allowed, and nothing listens there any more.
    await internal.close();
    const closedLog = capturedLog();
    const closed = await stepError(
      await startForge({ registry: defaultRegistry([], { http: { allowHosts: allowHosts("localhost"), log: closedLog.log } }) }),
    );
    expect(refused).toBe(uniform("GET", url, `localhost:${internal.port}`));
    expect(closed).toBe(refused);
    expect(refusedLog.lines).toMatchObject([
      { msg: "http step could not connect", url, reason: "localhost: 127.0.0.1 is a loopback address" },
    ]);
    expect(closedLog.lines).toMatchObject([{ msg: "http step could not connect", url, reason: expect.stringMatching(/^ECONNREFUSED: /) }]);
  });

  it("defaultRegistry() without options refuses internal addresses too", async () => {
    const internal = await internalService();
    const forge = await startForge({ env: { FORGE_HTTP_ALLOW_PRIVATE: "true" }, registry: defaultRegistry() });
    const url = `http://localhost:${internal.port}/`;
    expect(forge.app.forge.registry.checkParams("http", { url: `http://127.0.0.1:${internal.port}/` })).toMatch(/is a loopback address/);
    const run = await forge.app.forge.createRun(runInput({ graph: { steps: { call: { type: "http", params: { url } } } } }));
    await forge.app.forge.tickOnce(10);
    expect((await stepsOf(forge, run.id)).call?.error).toBe(uniform("GET", url, `localhost:${internal.port}`));
    expect(internal.requests).toHaveLength(0);
  });
});

describe("opening internal destinations", () => {
  it("FORGE_HTTP_ALLOW_PRIVATE=true opens loopback in every spelling, through localhost and behind a redirect", async () => {
    const internal = await internalService();
    const redirector = await startHttpServer(
      (_req, res) => {
        res.statusCode = 302;
        res.setHeader("location", `http://localhost:${internal.port}/secret`);
        res.end();
      },
      { hosts: ["127.0.0.2"] },
    );
    const forge = await startForge({ env: { FORGE_HTTP_ALLOW_PRIVATE: "true" } });
    const urls = [
      ...LOOPBACK_SPELLINGS.map(([spelling]) => `http://${spelling}:${internal.port}/secret`),
      `http://localhost:${internal.port}/secret`,
    ];
    const steps: Record<string, unknown> = Object.fromEntries(urls.map((url, i) => [`s${i}`, { type: "http", params: { url } }]));
    steps.redirected = { type: "http", params: { url: `${redirector.url}/go`, followRedirects: true } };
    const run = await forge.app.forge.createRun(runInput({ graph: { steps } }));
    expect((await forge.app.forge.tickOnce(10)).succeeded).toBe(1);
    for (const step of Object.values(await stepsOf(forge, run.id))) {
      expect(step.output).toMatchObject({ status: 200, body: "internal secret" });
    }
    expect(internal.requests).toHaveLength(urls.length + 1);
  });

  it("FORGE_HTTP_ALLOW_HOSTS: a name entry opens what the name resolves to, not the address itself", async () => {
    const internal = await internalService();
    const forge = await startForge({ env: { FORGE_HTTP_ALLOW_HOSTS: "LocalHost" } });
    const url = `http://localhost:${internal.port}/secret`;
    const run = await forge.app.forge.createRun(runInput({ graph: { steps: { call: { type: "http", params: { url } } } } }));
    expect((await forge.app.forge.tickOnce(10)).succeeded).toBe(1);
    expect((await stepsOf(forge, run.id)).call?.output).toMatchObject({ status: 200, body: "internal secret" });
    await expect(
      forge.app.forge.createRun(
        runInput({ graph: { steps: { call: { type: "http", params: { url: `http://127.0.0.1:${internal.port}/` } } } } }),
      ),
    ).rejects.toThrow('graph.steps.call.params: "url": 127.0.0.1 is a loopback address');
    expect(internal.requests).toHaveLength(1);
  });

  it("FORGE_HTTP_ALLOW_HOSTS: address and CIDR entries open those addresses in every spelling and whatever the name; others stay closed", async () => {
    const internal = await internalService();
    const other = await startHttpServer(undefined, { hosts: ["127.0.0.3"] });
    const forge = await startForge({ env: { FORGE_HTTP_ALLOW_HOSTS: "127.0.0.1/32, ::1" } });
    const urls = [
      ...LOOPBACK_SPELLINGS.filter(([, normalized]) => !["0.0.0.0", "[::]"].includes(normalized)).map(
        ([spelling]) => `http://${spelling}:${internal.port}/secret`,
      ),
      `http://localhost:${internal.port}/secret`, // resolves to 127.0.0.1
    ];
    const run = await forge.app.forge.createRun(
      runInput({ graph: { steps: Object.fromEntries(urls.map((url, i) => [`s${i}`, { type: "http", params: { url } }])) } }),
    );
    expect((await forge.app.forge.tickOnce(10)).succeeded).toBe(1);
    for (const step of Object.values(await stepsOf(forge, run.id))) expect(step.output).toMatchObject({ body: "internal secret" });
    expect(internal.requests).toHaveLength(urls.length);
    for (const url of [`http://0.0.0.0:${internal.port}/`, `${other.url}/`]) {
      await expect(forge.app.forge.createRun(runInput({ graph: { steps: { call: { type: "http", params: { url } } } } }))).rejects.toThrow(
        "internal addresses need FORGE_HTTP_ALLOW_HOSTS or FORGE_HTTP_ALLOW_PRIVATE",
      );
    }
    expect(other.requests).toHaveLength(0);
  });
});
