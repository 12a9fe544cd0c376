import { createHash } from "node:crypto";
import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { TestClock } from "../src/clock.ts";
import { CONNECT_FAILED_HINT, HTTP_BODY_MAX_BYTES } from "../src/engine/steps/http.ts";
import { defaultRegistry } from "../src/engine/steps/index.ts";
import type { StepHandler } from "../src/engine/steps/registry.ts";
import { CancelRun, RunArtifacts, SignalRun } from "./support/documents.ts";
import { API, runInput, startForge, type TestForge } from "./support/forge.ts";
import { startHttpServer } from "./support/http-server.ts";
import { signal, waitFor } from "./support/wait.ts";

/** The http, approval and artifact step types, dry runs, signals and cancellation of work in flight. */
async function events(forge: TestForge, runId: string) {
  return (await forge.app.forge.runEvents(runId, 0, 1000)).map((e) => ({ type: e.type, stepId: e.stepId, data: e.data }));
}

async function stepOf(forge: TestForge, runId: string, stepId: string) {
  return (await forge.app.forge.steps([runId])).find((s) => s.id === stepId);
}

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

/** The test servers listen on loopback, which http steps may reach only when configuration opens it. */
const LOCAL = { FORGE_HTTP_ALLOW_HOSTS: "127.0.0.1" };

describe("http steps", () => {
  it("LIVE: performs the request and succeeds with status, headers and body", async () => {
    const server = await startHttpServer((req, res) => {
      res.setHeader("content-type", "application/json");
      res.setHeader("x-echo", req.headers["x-token"] ?? "");
      res.end(JSON.stringify({ got: req.body }));
    });
    const forge = await startForge({ env: LOCAL });
    const run = await forge.app.forge.createRun(
      runInput({
        graph: {
          steps: {
            call: {
              type: "http",
              params: { url: `${server.url}/hooks?x=1`, method: "post", headers: { "x-token": "t1" }, body: { deploy: "api" } },
            },
          },
        },
      }),
    );
    expect((await forge.app.forge.tickOnce(10)).succeeded).toBe(1);
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]).toMatchObject({ method: "POST", url: "/hooks?x=1", body: '{"deploy":"api"}' });
    expect(server.requests[0]?.headers["content-type"]).toBe("application/json");
    const step = await stepOf(forge, run.id, "call");
    expect(step?.output).toMatchObject({
      status: 200,
      headers: { "content-type": "application/json", "x-echo": "t1" },
      body: JSON.stringify({ got: '{"deploy":"api"}' }),
    });
  });

  it("a binary body (one holding a NUL byte) comes back as base64, and the request is sent once", async () => {
    const zip = Buffer.from([0x50, 0x4b, 0x03, 0x04, 0, 0, 0xff, 0xfe]);
    const server = await startHttpServer((_req, res) => res.end(zip));
    const forge = await startForge({ env: LOCAL });
    const run = await forge.app.forge.createRun(
      runInput({
        graph: { steps: { get: { type: "http", params: { url: `${server.url}/a.zip`, method: "POST" }, retry: { maxAttempts: 3 } } } },
      }),
    );
    expect((await forge.app.forge.tickOnce(10)).succeeded).toBe(1);
    expect(server.requests).toHaveLength(1);
    expect((await stepOf(forge, run.id, "get"))?.output).toMatchObject({
      status: 200,
      body: zip.toString("base64"),
      bodyEncoding: "base64",
    });
  });

  it("a status outside expectStatus fails the attempt; a listed one succeeds", async () => {
    const server = await startHttpServer((req, res) => {
      res.statusCode = req.url === "/missing" ? 404 : 503;
      res.end("nope");
    });
    const forge = await startForge({ env: LOCAL });
    const run = await forge.app.forge.createRun(
      runInput({
        graph: {
          steps: {
            down: { type: "http", params: { url: `${server.url}/down` } },
            gone: { type: "http", params: { url: `${server.url}/missing`, expectStatus: [200, "400-404"] } },
          },
        },
      }),
    );
    expect((await forge.app.forge.tickOnce(10)).failed).toBe(1);
    expect(await stepOf(forge, run.id, "down")).toMatchObject({
      status: "FAILED",
      error: `GET ${server.url}/down answered 503, expected 200-299`,
    });
    expect(await stepOf(forge, run.id, "gone")).toMatchObject({ status: "SUCCEEDED", output: { status: 404, body: "nope" } });
  });

  it("caps the body it keeps and says so", async () => {
    const server = await startHttpServer((_req, res) => res.end("x".repeat(HTTP_BODY_MAX_BYTES + 10_000)));
    const forge = await startForge({ env: LOCAL });
    const run = await forge.app.forge.createRun(runInput({ graph: { steps: { big: { type: "http", params: { url: server.url } } } } }));
    await forge.app.forge.tickOnce(10);
    const output = (await stepOf(forge, run.id, "big"))?.output as { body: string; bodyTruncated?: boolean };
    expect(output.body).toHaveLength(HTTP_BODY_MAX_BYTES);
    expect(output.bodyTruncated).toBe(true);
  });

  it("DRY_RUN: makes no request and succeeds with the request it would have made", async () => {
    const server = await startHttpServer();
    const forge = await startForge({ env: LOCAL });
    const run = await forge.app.forge.createRun(
      runInput({
        mode: "DRY_RUN",
        graph: { steps: { call: { type: "http", params: { url: `${server.url}/deploy`, method: "PUT", body: "v2" } } } },
      }),
    );
    expect((await forge.app.forge.tickOnce(10)).succeeded).toBe(1);
    expect(server.requests).toHaveLength(0);
    expect((await stepOf(forge, run.id, "call"))?.output).toEqual({
      dryRun: true,
      request: { method: "PUT", url: `${server.url}/deploy`, headers: {}, body: "v2" },
    });
  });

  it("an attempt against a server that never answers is aborted at timeoutMs and counts as failed", async () => {
    const server = await startHttpServer(() => {}); // never answers
    const clock = new TestClock();
    const forge = await startForge({ clock, env: LOCAL });
    const run = await forge.app.forge.createRun(
      runInput({ graph: { steps: { call: { type: "http", params: { url: server.url }, timeoutMs: 50 } } } }),
    );
    const tick = forge.app.forge.tickOnce(10);
    await waitFor(() => server.requests.length === 1, "the request to arrive");
    clock.advance(50);
    expect((await tick).failed).toBe(1);
    expect(await stepOf(forge, run.id, "call")).toMatchObject({ status: "FAILED", error: "timed out after 50 ms" });
    await waitFor(() => server.closedEarly === 1, "the connection to be dropped");
  });

  it("refuses bad params at createRun, naming the step and the problem", async () => {
    const forge = await startForge();
    const cases: Array<[Record<string, unknown>, string]> = [
      [{}, '"url" must be an absolute http:// or https:// URL'],
      [{ url: "ftp://example.com/x" }, '"url" must be an absolute http:// or https:// URL'],
      [{ url: "http://x.test", method: "BREW" }, '"method" must be one of'],
      [{ url: "http://x.test", headers: { "bad header": "v" } }, '"headers": "bad header" is not a valid header name'],
      [{ url: "http://x.test", headers: { a: "1\r\nb: 2" } }, '"headers.a" must be a string without line breaks'],
      [{ url: "http://x.test", body: "x" }, '"body" cannot be sent with GET'],
      [{ url: "http://x.test", expectStatus: "2xx" }, '"expectStatus" must be a status'],
      [{ url: "http://x.test", expectStatus: "300-200" }, '"expectStatus" must be a status'],
      [{ url: "http://user:pw@x.test" }, '"url" must not hold credentials (send them in "headers")'],
      [{ url: "http://x.test:6000" }, '"url": port 6000 is one HTTP clients refuse to use'],
      [
        { url: "http://x.test", headers: { "Content-Length": "3" } },
        '"headers.Content-Length" is set by the HTTP client and cannot be given',
      ],
      [{ url: "http://x.test", headers: { price: "5 €" } }, '"headers.price" must be Latin-1 text (encode other characters)'],
      [{ url: "http://x.test", headers: { k: "a\u0001b" } }, '"headers.k" must not contain control characters'],
      [{ url: "http://x.test", followRedirects: "yes" }, '"followRedirects" must be true or false'],
      [
        { url: "http://169.254.169.254/latest/meta-data/" },
        '"url": 169.254.169.254 is a link-local address; internal addresses need FORGE_HTTP_ALLOW_HOSTS or FORGE_HTTP_ALLOW_PRIVATE',
      ],
    ];
    for (const [params, problem] of cases) {
      await expect(forge.app.forge.createRun(runInput({ graph: { steps: { call: { type: "http", params } } } }))).rejects.toThrow(
        `graph.steps.call.params: ${problem}`,
      );
    }
  });
});

describe("http redirects and transport errors", () => {
  it("answers a redirect as it is unless followRedirects is true; a connection that fails says only that it could not connect", async () => {
    const server = await startHttpServer((req, res) => {
      if (req.url === "/old") {
        res.statusCode = 302;
        res.setHeader("location", "/new");
        res.end();
      } else res.end(`at ${req.url}, key ${req.headers["x-api-key"] ?? "none"}`);
    });
    const closed = await startHttpServer();
    const closedUrl = `${closed.url}/nothing-listens`;
    await closed.close();
    const forge = await startForge({ env: LOCAL });
    const run = await forge.app.forge.createRun(
      runInput({
        graph: {
          steps: {
            asIs: { type: "http", params: { url: `${server.url}/old`, headers: { "x-api-key": "k" }, expectStatus: 302 } },
            followed: { type: "http", params: { url: `${server.url}/old`, followRedirects: true } },
            refused: { type: "http", params: { url: closedUrl } },
          },
        },
      }),
    );
    await forge.app.forge.tickOnce(10);
    expect(await stepOf(forge, run.id, "asIs")).toMatchObject({ status: "SUCCEEDED", output: { status: 302, body: "" } });
    expect(await stepOf(forge, run.id, "followed")).toMatchObject({
      status: "SUCCEEDED",
      output: { status: 200, url: `${server.url}/new`, body: "at /new, key none" },
    });
    expect(server.requests.filter((r) => r.url === "/new")).toHaveLength(1); // only the followed one went on
    const refused = await stepOf(forge, run.id, "refused");
    expect(refused?.status).toBe("FAILED");
    // The same words as for an address that is not allowed (tests/http-destinations.test.ts).
    expect(refused?.error).toBe(`GET ${closedUrl} failed: could not connect to ${new URL(closedUrl).host} (${CONNECT_FAILED_HINT})`);
  });
});

describe("the worker and slow steps", () => {
  it("a step waiting on a server that never answers does not hold up other runs", async () => {
    const server = await startHttpServer(() => {});
    const forge = await startForge({ env: { ...LOCAL, FORGE_WORKER_ENABLED: "true" } });
    const slow = await forge.app.forge.createRun(runInput({ graph: { steps: { call: { type: "http", params: { url: server.url } } } } }));
    await waitFor(() => server.requests.length === 1, "the slow request to be sent");
    const quick = await forge.app.forge.createRun(runInput());
    await waitFor(async () => (await forge.app.forge.getRun(quick.id))?.status === "SUCCEEDED", "the quick run to finish");
    expect((await forge.app.forge.getRun(slow.id))?.status).toBe("PENDING"); // its tick is still waiting on the answer
    await forge.app.forge.cancelRun(slow.id); // and stopping the app does not wait for it either
  });
});

describe("the worker at its concurrency limit", () => {
  it("keeps heartbeating while every tick slot waits on a slow step", async () => {
    const clock = new TestClock();
    const opened = signal();
    let reached = false;
    const gate: StepHandler = {
      type: "gate",
      run: async () => {
        reached = true;
        await opened.fired;
        return null;
      },
    };
    const forge = await startForge({
      clock,
      env: { FORGE_WORKER_ENABLED: "true", FORGE_WORKER_CONCURRENCY: "1" },
      registry: defaultRegistry([gate]),
    });
    await forge.app.forge.createRun(runInput({ graph: { steps: { g: { type: "gate" } } } }));
    await waitFor(() => reached, "the slow step to start");
    await waitFor(() => clock.sleeping > 0, "the worker to wait for a free slot");
    const worker = () => forge.app.forge.db.read.worker.findFirstOrThrow();
    const before = (await worker()).heartbeatAt;
    clock.advance(20_000); // longer than a worker may go without a heartbeat
    await waitFor(async () => (await worker()).heartbeatAt > before, "a heartbeat");
    opened.fire();
  });
});

describe("cancelling a run with an attempt in flight", () => {
  it("aborts the in-flight http request through its AbortSignal and marks every unfinished step CANCELLED", async () => {
    const server = await startHttpServer(() => {}); // never answers
    const forge = await startForge({ env: LOCAL });
    const run = await forge.app.forge.createRun(
      runInput({
        graph: {
          steps: {
            call: { type: "http", params: { url: server.url }, retry: { maxAttempts: 5, backoffMs: 0 } },
            after: { type: "noop", deps: ["call"] },
            side: { type: "noop" },
          },
        },
      }),
    );
    const tick = forge.app.forge.tickOnce(10);
    await waitFor(() => server.requests.length === 1, "the request to arrive");
    const cancelled = await forge.gql(CancelRun, { id: run.id });
    expect(cancelled.data?.cancelRun.status).toBe("CANCELLED");
    // The tick ends without waiting for an answer (there never is one) and commits nothing.
    expect((await tick).ticked).toBe(0);
    await waitFor(() => server.closedEarly === 1, "the request to be dropped");
    expect(server.requests).toHaveLength(1); // no retry was attempted
    const steps = Object.fromEntries((await forge.app.forge.steps([run.id])).map((s) => [s.id, s.status]));
    expect(steps).toEqual({ call: "CANCELLED", after: "CANCELLED", side: "CANCELLED" });
    const log = await events(forge, run.id);
    expect(log.map((e) => e.type)).toEqual(["run_created", "step_cancelled", "step_cancelled", "step_cancelled", "run_cancelled"]);
  });

  it("a cancellation between the claim and the steps' start stops them before any request is sent", async () => {
    const server = await startHttpServer();
    const forge = await startForge({ env: LOCAL });
    const run = await forge.app.forge.createRun(
      runInput({ graph: { steps: { call: { type: "http", params: { url: server.url, method: "POST" } } } } }),
    );
    const batch = await forge.app.forge.scheduler.claim(10, "ticker");
    await forge.app.forge.cancelRun(run.id);
    expect((await batch.finish(new AbortController().signal)).ticked).toBe(0);
    expect(server.requests).toHaveLength(0);
  });

  it("a slow step holds back no other run of its tick: each run commits as it finishes", async () => {
    const release = signal();
    const slow: StepHandler = { type: "slow", run: () => release.fired.then(() => null) };
    const forge = await startForge({ registry: defaultRegistry([slow]) });
    const slowRun = await forge.app.forge.createRun(runInput({ graph: { steps: { s: { type: "slow" } } } }));
    const quickRun = await forge.app.forge.createRun(runInput());
    const tick = forge.app.forge.tickOnce(10);
    await waitFor(async () => (await forge.app.forge.getRun(quickRun.id))?.status === "SUCCEEDED", "the quick run to commit");
    expect((await forge.app.forge.getRun(slowRun.id))?.status).toBe("PENDING");
    release.fire();
    const result = await tick;
    expect(result).toMatchObject({ ticked: 2, succeeded: 2 });
    expect([...result.runIds].sort()).toEqual([slowRun.id, quickRun.id].sort());
  });

  it("an abandoned tick (shutdown) aborts its attempts and gives the runs back without committing them", async () => {
    const server = await startHttpServer(() => {});
    const forge = await startForge({ env: LOCAL });
    const run = await forge.app.forge.createRun(runInput({ graph: { steps: { call: { type: "http", params: { url: server.url } } } } }));
    const abandon = new AbortController();
    const tick = forge.app.forge.scheduler.tickOnce(10, "stopping-worker", { abandon: abandon.signal });
    await waitFor(() => server.requests.length === 1, "the request to be sent");
    abandon.abort(new Error("the worker is stopping"));
    expect((await tick).ticked).toBe(0);
    await waitFor(() => server.closedEarly === 1, "the request to be dropped");
    expect(await forge.app.forge.getRun(run.id)).toMatchObject({ status: "PENDING", leaseOwner: null, seq: 1 });
  });

  it("an abandon commits the runs that finished before it, and leaves no listener behind", async () => {
    let sent = 0;
    const fast: StepHandler = { type: "fast", sideEffects: true, run: () => ++sent };
    const stuck: StepHandler = {
      type: "stuck",
      run: (ctx) => new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))),
    };
    const forge = await startForge({ registry: defaultRegistry([fast, stuck]) });
    const done = await forge.app.forge.createRun(runInput({ graph: { steps: { f: { type: "fast" } } } }));
    const cut = await forge.app.forge.createRun(runInput({ graph: { steps: { s: { type: "stuck" } } } }));
    const abandon = new AbortController();
    const tick = forge.app.forge.scheduler.tickOnce(10, "stopping-worker", { abandon: abandon.signal });
    await waitFor(() => sent === 1, "the fast step to run");
    abandon.abort(new Error("the worker is stopping")); // within the first 100 ms: nothing committed yet
    expect((await tick).runIds).toEqual([done.id]);
    expect((await forge.app.forge.getRun(done.id))?.status).toBe("SUCCEEDED"); // its side effect is not repeated
    expect(await forge.app.forge.getRun(cut.id)).toMatchObject({ status: "PENDING", leaseOwner: null });
    expect(getEventListeners(abandon.signal, "abort")).toHaveLength(0);
  });

  it("another process's cancellation reaches the attempt through the lease renewal", async () => {
    const server = await startHttpServer(() => {});
    const env = { ...LOCAL, FORGE_LEASE_MS: "600" }; // renewed every 200 ms
    const ticker = await startForge({ env });
    const other = await startForge({ env, dbUrl: ticker.dbUrl });
    const run = await ticker.app.forge.createRun(runInput({ graph: { steps: { call: { type: "http", params: { url: server.url } } } } }));
    const tick = ticker.app.forge.tickOnce(10);
    await waitFor(() => server.requests.length === 1, "the request to arrive");
    await other.app.forge.cancelRun(run.id); // a different engine: no in-process abort
    expect((await tick).ticked).toBe(0);
    await waitFor(() => server.closedEarly === 1, "the request to be dropped");
    expect((await ticker.app.forge.getRun(run.id))?.status).toBe("CANCELLED");
  });

  it("a step that outlives the lease keeps it: renewals stop another ticker from taking the run", async () => {
    let calls = 0;
    const release = signal();
    const slow: StepHandler = {
      type: "slow",
      run: async () => {
        calls++;
        await release.fired;
        return { done: true };
      },
    };
    const clock = new TestClock();
    const forge = await startForge({ clock, env: { FORGE_LEASE_MS: "150" }, registry: defaultRegistry([slow]) });
    const run = await forge.app.forge.createRun(runInput({ graph: { steps: { long: { type: "slow" } } } }));
    const first = forge.app.forge.tickOnce(10);
    await waitFor(() => calls === 1, "the step to start");
    // Well past the lease's length by the wall clock; the test clock stands still, so only
    // renewals written by the ticker keep the lease alive against a clock that moves on.
    for (let i = 0; i < 5; i++) {
      await new Promise((resolve) => setTimeout(resolve, 60));
      clock.advance(60);
      const second = await forge.app.forge.tickOnce(10);
      expect(second.ticked).toBe(0);
      expect(second.skippedLeased).toBe(1);
    }
    release.fire();
    expect((await first).succeeded).toBe(1);
    expect(calls).toBe(1);
    expect((await stepOf(forge, run.id, "long"))?.output).toEqual({ done: true });
  });
});

describe("approval steps and signalRun", () => {
  it("waits without a lease until signalRun delivers the payload, which becomes its output", async () => {
    const forge = await startForge();
    const run = await forge.app.forge.createRun(
      runInput({
        graph: { steps: { ok: { type: "approval", params: { prompt: "ship it?" } }, ship: { type: "noop", deps: ["ok"] } } },
      }),
    );
    await forge.app.forge.tickOnce(10);
    expect(await forge.app.forge.getRun(run.id)).toMatchObject({ status: "RUNNING", leaseOwner: null, wakeAt: null });
    expect(await stepOf(forge, run.id, "ok")).toMatchObject({ status: "WAITING" });
    expect((await forge.app.forge.tickOnce(10)).ticked).toBe(0); // nothing to do until the signal

    const signalled = await forge.gql(SignalRun, { runId: run.id, stepId: "ok", payload: { approvedBy: "ada" } });
    expect(signalled.errors).toBeUndefined();
    expect(signalled.data?.signalRun.steps).toEqual([
      { stepId: "ok", status: "SUCCEEDED", output: { approvedBy: "ada" } },
      { stepId: "ship", status: "PENDING", output: null },
    ]);
    expect((await forge.app.forge.tickOnce(10)).succeeded).toBe(1);
    expect((await events(forge, run.id)).map((e) => [e.type, e.stepId, e.data])).toEqual([
      ["run_created", null, null],
      ["run_started", null, null],
      ["step_started", "ok", { attempt: 1 }],
      ["step_waiting", "ok", { attempt: 1, until: null, prompt: "ship it?" }],
      ["step_succeeded", "ok", { attempt: 1, signalled: true }],
      ["step_started", "ship", { attempt: 1 }],
      ["step_succeeded", "ship", { attempt: 1 }],
      ["run_succeeded", null, null],
    ]);
  });

  it("refuses an unknown run (NOT_FOUND), an unknown step, a step not waiting, a second signal, and callers without the admin token", async () => {
    const forge = await startForge();
    const run = await forge.app.forge.createRun(
      runInput({ graph: { steps: { ok: { type: "approval" }, later: { type: "approval", deps: ["ok"] }, n: { type: "noop" } } } }),
    );
    const refused = async (vars: { runId: string; stepId: string }, code: string, message?: string, token?: string | null) => {
      const result = await forge.gql(SignalRun, { ...vars, payload: 1 }, token);
      expect(result.data).toBeNull();
      expect(result.errors?.[0]?.extensions?.code).toBe(code);
      if (message) expect(result.errors?.[0]?.message).toBe(message);
    };
    await refused({ runId: "nope", stepId: "ok" }, "NOT_FOUND", 'run "nope" does not exist');
    await refused({ runId: run.id, stepId: "ghost" }, "BAD_USER_INPUT", `stepId: run "${run.id}" has no step "ghost"`);
    await refused({ runId: run.id, stepId: "ok" }, "BAD_USER_INPUT", 'stepId: approval "ok" is not waiting for a signal (it is PENDING)');
    await forge.app.forge.tickOnce(10);
    await refused({ runId: run.id, stepId: "n" }, "BAD_USER_INPUT", 'stepId: noop step "n" is not waiting for a signal (it is SUCCEEDED)');
    await refused({ runId: run.id, stepId: "ok" }, "FORBIDDEN", undefined, API);
    await refused({ runId: run.id, stepId: "ok" }, "FORBIDDEN", undefined, null);
    expect((await forge.gql(SignalRun, { runId: run.id, stepId: "ok", payload: null })).errors).toBeUndefined();
    await refused({ runId: run.id, stepId: "ok" }, "BAD_USER_INPUT", 'stepId: approval "ok" is not waiting for a signal (it is SUCCEEDED)');
    // Nothing the refusals tried was written.
    expect((await stepOf(forge, run.id, "ok"))?.output).toBeNull();
    expect((await stepOf(forge, run.id, "later"))?.status).toBe("PENDING");
  });

  it("a signal that arrives while a tick holds the run's lease is taken up by the next tick", async () => {
    const release = signal();
    let busyStarted = false;
    const slow: StepHandler = {
      type: "slow",
      run: async () => {
        busyStarted = true;
        await release.fired;
        return null;
      },
    };
    const clock = new TestClock();
    const forge = await startForge({ clock, registry: defaultRegistry([slow]) });
    const run = await forge.app.forge.createRun(
      runInput({
        graph: {
          steps: {
            gate: { type: "approval" },
            nap: { type: "sleep", params: { ms: 1000 } },
            busy: { type: "slow", deps: ["nap"] },
            done: { type: "noop", deps: ["gate", "busy"] },
          },
        },
      }),
    );
    await forge.app.forge.tickOnce(10); // gate and nap now wait
    clock.advance(1000);
    const holding = forge.app.forge.tickOnce(10); // nap is due; busy runs and holds the lease
    await waitFor(() => busyStarted, "the busy step to start");
    const delivered = await forge.gql(SignalRun, { runId: run.id, stepId: "gate", payload: "yes" });
    expect(delivered.errors).toBeUndefined();
    // The tick owns the run's events: the payload waits on the step.
    expect(await stepOf(forge, run.id, "gate")).toMatchObject({ status: "WAITING", signal: "yes" });
    release.fire();
    expect((await holding).ticked).toBe(1);
    // That tick's commit saw the payload and left the run due.
    expect((await forge.app.forge.getRun(run.id))?.wakeAt).not.toBeNull();
    expect((await forge.app.forge.tickOnce(10)).succeeded).toBe(1);
    expect(await stepOf(forge, run.id, "gate")).toMatchObject({ status: "SUCCEEDED", output: "yes" });
    const gateEvents = (await events(forge, run.id)).filter((e) => e.stepId === "gate");
    expect(gateEvents.map((e) => [e.type, e.data])).toEqual([
      ["step_started", { attempt: 1 }],
      ["step_waiting", { attempt: 1, until: null }],
      ["step_succeeded", { attempt: 1, signalled: true }],
    ]);
  });
});

describe("artifact steps", () => {
  it("stores the artifact with its size and sha256, exposed as Run.artifacts", async () => {
    const forge = await startForge();
    const text = "build log: ok ✓\n";
    const run = await forge.app.forge.createRun(
      runInput({
        graph: {
          steps: {
            log: { type: "artifact", params: { name: "build.log", content: text } },
            report: { type: "artifact", deps: ["log"], params: { name: "report.json", content: { passed: 12, failed: 0 } } },
          },
        },
      }),
    );
    expect((await forge.app.forge.tickOnce(10)).succeeded).toBe(1);
    const result = await forge.gql(RunArtifacts, { id: run.id });
    const artifacts = result.data?.run?.artifacts ?? [];
    expect(artifacts.map(({ id: _id, createdAt: _at, ...a }) => a)).toEqual([
      {
        runId: run.id,
        stepId: "log",
        name: "build.log",
        contentType: "text/plain; charset=utf-8",
        size: Buffer.byteLength(text),
        sha256: sha256(text),
        content: text,
      },
      {
        runId: run.id,
        stepId: "report",
        name: "report.json",
        contentType: "application/json",
        size: 24,
        sha256: sha256('{"passed":12,"failed":0}'),
        content: '{"passed":12,"failed":0}',
      },
    ]);
    expect(Buffer.byteLength(text)).toBe(text.length + 2); // ✓ is three bytes: size counts bytes
    expect((await stepOf(forge, run.id, "log"))?.output).toEqual({
      name: "build.log",
      contentType: "text/plain; charset=utf-8",
      size: Buffer.byteLength(text),
      sha256: sha256(text),
    });
  });

  it("an artifact over FORGE_ARTIFACT_MAX_BYTES fails its step for good with a clear error and stores nothing", async () => {
    const forge = await startForge({ env: { FORGE_ARTIFACT_MAX_BYTES: "16" } });
    const run = await forge.app.forge.createRun(
      runInput({
        graph: {
          steps: {
            fits: { type: "artifact", params: { name: "a", content: "é".repeat(8) } }, // 16 bytes
            big: { type: "artifact", params: { name: "b", content: "x".repeat(17) }, retry: { maxAttempts: 3, backoffMs: 0 } },
          },
        },
      }),
    );
    expect((await forge.app.forge.tickOnce(10)).failed).toBe(1);
    expect(await stepOf(forge, run.id, "big")).toMatchObject({
      status: "FAILED",
      attempts: 1, // retrying cannot make it fit
      error: 'artifact "b" is 17 bytes, over the limit of 16 bytes (FORGE_ARTIFACT_MAX_BYTES)',
    });
    const artifacts = (await forge.gql(RunArtifacts, { id: run.id })).data?.run?.artifacts ?? [];
    expect(artifacts.map((a) => [a.name, a.size])).toEqual([["a", 16]]);
  });

  it("a handler's artifact with a contentType that is not a string fails its step with a clear error", async () => {
    const writer: StepHandler = {
      type: "writer",
      run: (ctx) => ctx.writeArtifact({ name: "a", content: "x", contentType: 5 as unknown as string }),
    };
    const forge = await startForge({ registry: defaultRegistry([writer]) });
    const run = await forge.app.forge.createRun(runInput({ graph: { steps: { w: { type: "writer" } } } }));
    await forge.app.forge.tickOnce(10);
    expect(await stepOf(forge, run.id, "w")).toMatchObject({ status: "FAILED", error: 'artifact "a": `contentType` must be a string' });
  });

  it("artifacts of an attempt that fails are not kept", async () => {
    let attempt = 0;
    const writesThenFails: StepHandler = {
      type: "writes-then-fails",
      run: (ctx) => {
        attempt++;
        ctx.writeArtifact({ name: `try-${attempt}`, content: "partial" });
        if (attempt === 1) throw new Error("crashed after writing");
        return null;
      },
    };
    const forge = await startForge({ registry: defaultRegistry([writesThenFails]) });
    const run = await forge.app.forge.createRun(
      runInput({ graph: { steps: { w: { type: "writes-then-fails", retry: { maxAttempts: 2, backoffMs: 0 } } } } }),
    );
    expect((await forge.app.forge.tickOnce(10)).succeeded).toBe(1);
    const artifacts = (await forge.gql(RunArtifacts, { id: run.id })).data?.run?.artifacts ?? [];
    expect(artifacts.map((a) => a.name)).toEqual(["try-2"]);
  });
});
