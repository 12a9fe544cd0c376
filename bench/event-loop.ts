import { monitorEventLoopDelay } from "node:perf_hooks";
import { pino } from "pino";
import WebSocket from "ws";
import { loadConfig } from "../src/config.ts";
import { buildApp } from "../src/server.ts";
import { fmt, freshDbFile, printTable } from "./support.ts";

/**
 * The event loop while the largest request the limits allow is served (API.md, "The event
 * loop"): a createRuns of 500 graphs filling the 4 MiB body limit, sent through yoga.
 * Measured: the loop's delay (a 5 ms timer that should fire every 5 ms) and the longest
 * single block. For comparison, from the same run: the same timer on an idle loop, and
 * JSON.parse of that body in one call, which is what yoga's own parser does (Forge parses
 * a body this large in pieces: src/api/json-body.ts).
 */
const BODY_LIMIT = 4 * 1024 * 1024;
const RUNS = 500;
const TICK_MS = 5;

/** A createRuns body of RUNS chains, each as long as still fits the body limit. */
function largestBody(): string {
  const body = (steps: number) => {
    const graph: Record<string, unknown> = {};
    for (let i = 0; i < steps; i++) graph[`s${i}`] = { type: "noop", deps: i ? [`s${i - 1}`] : [] };
    const inputs = Array.from({ length: RUNS }, (_, i) => ({
      mode: "LIVE",
      jobType: "big",
      requestedBy: "bench",
      graph: { steps: graph },
      params: { i },
    }));
    return JSON.stringify({ query: "mutation($inputs: [CreateRunInput!]!) { createRuns(inputs: $inputs) { id } }", variables: { inputs } });
  };
  let steps = 1;
  while (Buffer.byteLength(body(steps * 2)) <= BODY_LIMIT) steps *= 2;
  let hi = steps * 2;
  while (hi - steps > 1) {
    const mid = Math.floor((steps + hi) / 2);
    if (Buffer.byteLength(body(mid)) <= BODY_LIMIT) steps = mid;
    else hi = mid;
  }
  return body(steps);
}

interface LoopStats {
  p50: number;
  p99: number;
  max: number;
  longestBlock: number;
  ms: number;
}

/** Runs `work` while sampling the loop: the delay histogram and the longest gap between timer callbacks. */
async function sampled(work: () => Promise<unknown>): Promise<LoopStats> {
  const histogram = monitorEventLoopDelay({ resolution: TICK_MS });
  let longest = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last - TICK_MS);
    last = now;
  }, TICK_MS);
  histogram.enable();
  const start = performance.now();
  await work();
  const ms = performance.now() - start;
  // One more turn, so a block at the very end is seen by the timer.
  await new Promise((resolve) => setTimeout(resolve, TICK_MS * 2));
  histogram.disable();
  clearInterval(timer);
  const toMs = (ns: number) => ns / 1e6;
  return {
    p50: toMs(histogram.percentile(50)),
    p99: toMs(histogram.percentile(99)),
    max: toMs(histogram.max),
    longestBlock: Math.max(0, longest),
    ms,
  };
}

/** A graphql-ws connection to `app` (listening on a free port), acknowledged. */
async function openSocket(app: Awaited<ReturnType<typeof buildApp>>): Promise<WebSocket> {
  const endpoint = (await app.start()).replace(/^http/, "ws");
  const socket = new WebSocket(endpoint, "graphql-transport-ws");
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.on("open", () => socket.send(JSON.stringify({ type: "connection_init", payload: {} })));
    socket.once("message", (data: Buffer) => (data.toString().includes("connection_ack") ? resolve() : reject(new Error(data.toString()))));
  });
  return socket;
}

export async function benchEventLoop(o: { databaseUrl?: string; label: string }): Promise<void> {
  const body = largestBody();
  const url = o.databaseUrl ?? `file:${freshDbFile()}`;
  const app = await buildApp(loadConfig({ DATABASE_URL: url, LOG_LEVEL: "silent", FORGE_PORT: "0" }), { log: pino({ level: "silent" }) });
  const send = async () => {
    const response = await app.yoga.fetch("http://127.0.0.1/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body,
    });
    const json = (await response.json()) as { data?: { createRuns?: unknown[] }; errors?: Array<{ message: string }> };
    if (!json.data?.createRuns || json.data.createRuns.length !== RUNS) throw new Error(`createRuns failed: ${json.errors?.[0]?.message}`);
  };
  await send(); // warm up: the first request compiles the code paths
  const idle = await sampled(() => new Promise((resolve) => setTimeout(resolve, 1000)));
  const busy = await sampled(send);
  // The same request as one graphql-ws message (a subscribe carrying the mutation).
  const socket = await openSocket(app);
  const { query, variables } = JSON.parse(body) as { query: string; variables: unknown };
  const message = JSON.stringify({ id: "big", type: "subscribe", payload: { query, variables } });
  const overWs = async () => {
    const answered = new Promise<void>((resolve, reject) => {
      const onMessage = (data: Buffer) => {
        const text = data.toString();
        if (!text.includes('"big"')) return;
        socket.off("message", onMessage);
        if (text.includes('"createRuns"')) resolve();
        else reject(new Error(`createRuns over graphql-ws failed: ${text.slice(0, 300)}`));
      };
      socket.on("message", onMessage);
    });
    socket.send(message);
    await answered;
    // graphql-ws sends "complete" after the answer: let it arrive before the next use of the id.
    await new Promise((resolve) => setTimeout(resolve, 20));
  };
  await overWs();
  const busyWs = await sampled(overWs);
  socket.close();
  let parse = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    JSON.parse(body);
    parse = Math.min(parse, performance.now() - t);
  }
  await app.stop();
  const ms = (n: number) => fmt(n, 1);
  printTable(
    `Event loop during the largest createRuns (${o.label}): ${RUNS} graphs in a ${fmt(Buffer.byteLength(body))}-byte body, served in ${fmt(busy.ms)} ms over HTTP, ${fmt(busyWs.ms)} ms over graphql-ws`,
    ["loop", "p50 delay ms", "p99 delay ms", "max delay ms", "longest block ms"],
    [
      ["idle (bound)", ms(idle.p50), ms(idle.p99), ms(idle.max), ms(idle.longestBlock)],
      ["serving the createRuns (HTTP)", ms(busy.p50), ms(busy.p99), ms(busy.max), ms(busy.longestBlock)],
      ["serving it as a graphql-ws message", ms(busyWs.p50), ms(busyWs.p99), ms(busyWs.max), ms(busyWs.longestBlock)],
      ["JSON.parse of the body in one call", "", "", "", ms(parse)],
    ],
  );
}

/**
 * The event loop while one connection's 100 subscriptions (the per-connection limit) are
 * sent the events of a 300-step run: tens of thousands of messages, which must go out with
 * turns of the event loop between them, not in one unbroken run (API.md, "The event loop").
 * The client (a bare graphql-ws socket that only counts) shares the process, so the figures
 * include its share.
 */
export async function benchDeliveryLoop(o: { databaseUrl?: string; label: string }): Promise<void> {
  const SUBSCRIPTIONS = 100;
  const STEPS = 300;
  const url = o.databaseUrl ?? `file:${freshDbFile()}`;
  const app = await buildApp(loadConfig({ DATABASE_URL: url, LOG_LEVEL: "silent", FORGE_PORT: "0" }), { log: pino({ level: "silent" }) });
  const endpoint = (await app.start()).replace(/^http/, "ws");
  const socket = new WebSocket(endpoint, "graphql-transport-ws");
  let received = 0;
  let acked: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    acked = resolve;
  });
  socket.on("open", () => socket.send(JSON.stringify({ type: "connection_init", payload: {} })));
  socket.on("message", (data: Buffer) => {
    const text = data.toString();
    if (text.includes('"connection_ack"')) {
      for (let i = 0; i < SUBSCRIPTIONS; i++) {
        socket.send(
          JSON.stringify({ id: String(i), type: "subscribe", payload: { query: "subscription { events { id runId seq type } }" } }),
        );
      }
      acked();
      return;
    }
    if (text.includes('"next"')) received++;
  });
  await ready;
  await new Promise((resolve) => setTimeout(resolve, 200)); // the subscriptions take hold
  const steps: Record<string, unknown> = {};
  for (let i = 0; i < STEPS; i++) steps[`s${i}`] = { type: "noop", deps: i ? [`s${i - 1}`] : [] };
  await app.forge.createRun({ mode: "LIVE", jobType: "bench", requestedBy: "bench", graph: { steps } });
  const before = received;
  const stats = await sampled(async () => {
    await app.forge.tickOnce(1);
    const expected = (STEPS * 2 + 2) * SUBSCRIPTIONS; // run_started, each step's two events, run_succeeded
    while (received - before < expected) await new Promise((resolve) => setTimeout(resolve, 5));
  });
  socket.close();
  await app.stop();
  const ms = (n: number) => fmt(n, 1);
  printTable(
    `Event loop while one connection's ${SUBSCRIPTIONS} subscriptions get a ${STEPS}-step run's events (${o.label}): ${fmt(received - before)} messages in ${fmt(stats.ms)} ms`,
    ["loop", "p50 delay ms", "p99 delay ms", "max delay ms", "longest block ms"],
    [["delivering", ms(stats.p50), ms(stats.p99), ms(stats.max), ms(stats.longestBlock)]],
  );
}
