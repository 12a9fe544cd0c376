import { type ChildProcess, fork } from "node:child_process";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { WebSocketServer } from "ws";
import { loadConfig } from "../src/config.ts";
import { buildApp } from "../src/server.ts";
import { noopRun } from "./latency.ts";
import { fmt, freshDbFile, percentile, printTable } from "./support.ts";

/**
 * Fan-out: many graphql-ws subscribers to `events`, all with the same selection.
 *
 * - A burst: one createRuns of `burst` runs commits `burst` events at once; deliveries/s is
 *   every subscriber's copy of every event over the time from that commit to the last
 *   arrival. The bound, in the same run: a plain `ws` server writing the same bytes (the
 *   messages Forge sends, in size and shape) to the same number of sockets, each socket's
 *   messages in one write, with no GraphQL and no store; beside it the same server writing
 *   one message at a time, event by event.
 * - A steady rate: `rate` events a second for `seconds`, one createRun at a time; latency is
 *   from each commit to each arrival.
 * - With `soakMinutes`, the steady rate goes on that long and the server's memory is
 *   sampled every half minute.
 *
 * The subscribers live in a child process (bench/fanout-clients.ts) so that their work does
 * not run on the server's event loop; on a 2-core machine it still shares the CPU.
 */
const QUERY = "subscription { events { id runId seq type createdAt } }";

interface Clients {
  child: ChildProcess;
  ask<T>(message: object, key: string): Promise<T>;
}

async function startClients(wsUrl: string, subscribers: number, sampleEvery: number): Promise<Clients> {
  const child = fork(
    fileURLToPath(new URL("./fanout-clients.ts", import.meta.url)),
    [wsUrl, String(subscribers), QUERY, String(sampleEvery)],
    {
      execArgv: ["--import", "tsx"],
    },
  );
  const waiting = new Map<string, (value: unknown) => void>();
  let ready: () => void = () => {};
  const isReady = new Promise<void>((resolve) => {
    ready = resolve;
  });
  child.on("message", (m: Record<string, unknown>) => {
    if (m.error) console.error(`fan-out client: ${String(m.error)}`);
    if (m.ready) ready();
    for (const [key, resolve] of waiting) {
      if (key in m) {
        waiting.delete(key);
        resolve(m[key]);
      }
    }
  });
  await isReady;
  return {
    child,
    ask: <T>(message: object, key: string) =>
      new Promise<T>((resolve) => {
        waiting.set(key, resolve as (value: unknown) => void);
        child.send(message);
      }),
  };
}

const now = () => performance.timeOrigin + performance.now();

type RawSubscriber = { send(data: string): void; _socket?: { cork(): void; uncork(): void } };

/** A plain ws server that acknowledges graphql-ws connections, with `subscribers` clients subscribed to it. */
async function rawServer(subscribers: number): Promise<{ clients: Clients; subscribed: RawSubscriber[]; close(): Promise<void> }> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
  const subscribed: RawSubscriber[] = [];
  wss.on("connection", (socket) => {
    socket.on("message", (data) => {
      const message = JSON.parse(String(data)) as { type: string };
      if (message.type === "connection_init") socket.send('{"type":"connection_ack"}');
      if (message.type === "subscribe") subscribed.push(socket);
    });
  });
  const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  const clients = await startClients(url, subscribers, 1);
  while (subscribed.length < subscribers) await sleep(20);
  return { clients, subscribed, close: () => new Promise<void>((resolve) => wss.close(() => resolve())) };
}

/**
 * The latency bound: the plain ws server writes one event's message to every socket, `rate`
 * times a second for `seconds`; latency is from the write to each arrival (the clients' own
 * share of the machine included, as it is for Forge).
 */
async function benchRawSteady(subscribers: number, rate: number, seconds: number): Promise<number[]> {
  const { clients, subscribed, close } = await rawServer(subscribers);
  const sentAt = new Map<string, number>();
  const end = now() + seconds * 1000;
  for (let i = 0, next = now(); now() < end; i++) {
    const runId = `steady-${i}`;
    const message = JSON.stringify({
      id: "1",
      type: "next",
      payload: { data: { events: { id: String(2_000_000 + i), runId, seq: 1, type: "run_created", createdAt: new Date().toISOString() } } },
    });
    sentAt.set(runId, now());
    for (const socket of subscribed) socket.send(message);
    next += 1000 / rate;
    await sleep(Math.max(0, next - now()));
  }
  await waitForArrivals(clients, subscribers * sentAt.size, 30_000);
  const byRun = await clients.ask<Record<string, number[]>>({ stop: true }, "byRun");
  await close();
  const latencies: number[] = [];
  for (const [runId, at] of sentAt) for (const arrived of byRun[runId] ?? []) latencies.push(arrived - at);
  return latencies.sort((x, y) => x - y);
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until the clients have `expected` messages in all (or `timeoutMs` passes); the time it took is not measured here. */
async function waitForArrivals(clients: Clients, expected: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let arrived = 0;
  while (Date.now() < deadline) {
    arrived = await clients.ask<number>({ count: true }, "arrived");
    if (arrived >= expected) break;
    await sleep(100);
  }
  return arrived;
}

export interface FanoutResult {
  deliveriesPerSecond: number;
  boundPerSecond: number;
  p50: number;
  p99: number;
}

export async function benchFanout(o: {
  subscribers: number;
  burst: number;
  rate: number;
  seconds: number;
  soakMinutes?: number;
}): Promise<FanoutResult> {
  const config = loadConfig({
    DATABASE_URL: `file:${freshDbFile()}`,
    FORGE_PORT: "0",
    LOG_LEVEL: "silent",
    // A smaller cache shows where the memory of a soak goes (the shared answers fill theirs, then stay).
    ...(process.env.FORGE_SHARED_ANSWERS_BYTES ? { FORGE_SHARED_ANSWERS_BYTES: process.env.FORGE_SHARED_ANSWERS_BYTES } : {}),
  });
  const app = await buildApp(config, { log: pino({ level: "silent" }) });
  const wsUrl = (await app.start()).replace(/^http/, "ws");
  const soak = o.soakMinutes !== undefined;
  const clients = await startClients(wsUrl, o.subscribers, soak ? 50 : 1);
  while (app.forge.feed.listenerCount < o.subscribers) await sleep(20);
  await sleep(300);

  // The burst (not in a soak, whose clients keep only a sample of what they receive).
  const burstInputs = soak ? [] : Array.from({ length: o.burst }, (_, i) => ({ ...noopRun, id: `burst-${i}` }));
  const expectedBurst = o.subscribers * burstInputs.length;
  let burstCpuMs = 0;
  let burstCommitted = now();
  let burstStart = burstCommitted;
  if (!soak) {
    burstStart = now();
    const cpuBefore = process.cpuUsage();
    await app.forge.createRuns(burstInputs);
    burstCommitted = now();
    await waitForArrivals(clients, expectedBurst, 120_000);
    const cpu = process.cpuUsage(cpuBefore);
    burstCpuMs = (cpu.user + cpu.system) / 1000;
  }

  // The steady rate.
  const committedAt = new Map<string, number>();
  const memory: Array<{ minute: number; rss: number; heap: number }> = [];
  const gapMs = 1000 / o.rate;
  const steadyEnd = now() + (soak ? (o.soakMinutes as number) * 60_000 : o.seconds * 1000);
  const steadyStart = now();
  let nextSample = steadyStart;
  for (let i = 0, next = now(); now() < steadyEnd; i++) {
    const run = await app.forge.createRun({ ...noopRun, id: `steady-${i}` });
    committedAt.set(run.id, now());
    if (soak && now() >= nextSample) {
      // The live heap, not what the collector has yet to reclaim (node --expose-gc).
      (globalThis as { gc?: () => void }).gc?.();
      const m = process.memoryUsage();
      memory.push({ minute: (now() - steadyStart) / 60_000, rss: m.rss, heap: m.heapUsed });
      nextSample += 30_000;
    }
    next += gapMs;
    await sleep(Math.max(0, next - now()));
  }
  await waitForArrivals(clients, expectedBurst + o.subscribers * committedAt.size, 30_000);
  const byRun = await clients.ask<Record<string, number[]>>({ stop: true }, "byRun");
  await app.stop();

  let burstDeliveries = 0;
  let lastBurstArrival = burstCommitted;
  for (const input of burstInputs) {
    const arrivals = byRun[input.id] ?? [];
    burstDeliveries += arrivals.length;
    for (const at of arrivals) lastBurstArrival = Math.max(lastBurstArrival, at);
  }
  const latencies: number[] = [];
  for (const [runId, committed] of committedAt) for (const at of byRun[runId] ?? []) latencies.push(at - committed);
  latencies.sort((a, b) => a - b);
  const expectedSteady = committedAt.size * (soak ? Math.ceil(o.subscribers / 50) : o.subscribers);

  const bound = soak ? null : await benchRawFanout(o.subscribers, o.burst, true);
  const unbatched = soak ? null : await benchRawFanout(o.subscribers, o.burst, false);
  const deliveriesPerSecond = burstDeliveries / ((lastBurstArrival - burstCommitted) / 1000);
  if (bound) {
    printTable(
      `Fan-out: ${fmt(o.subscribers)} graphql-ws subscribers to events (one process), a burst of ${fmt(o.burst)} events committed at once`,
      ["server", "deliveries", "seconds", "deliveries/s", "ratio", "server CPU µs per delivery"],
      [
        [
          "Forge",
          `${fmt(burstDeliveries)} of ${fmt(expectedBurst)}`,
          fmt((lastBurstArrival - burstCommitted) / 1000, 2),
          fmt(deliveriesPerSecond),
          fmt(deliveriesPerSecond / bound.perSecond, 2),
          fmt((burstCpuMs * 1000) / burstDeliveries, 1),
        ],
        [
          "bound: the same bytes to as many sockets, plain ws, each socket's messages in one write",
          fmt(bound.deliveries),
          fmt(bound.seconds, 2),
          fmt(bound.perSecond),
          "1.00",
          fmt((bound.cpuMs * 1000) / bound.deliveries, 1),
        ],
        [
          "plain ws, one write per message (event by event to every socket)",
          fmt(unbatched?.deliveries ?? 0),
          fmt(unbatched?.seconds ?? 0, 2),
          fmt(unbatched?.perSecond ?? 0),
          fmt((unbatched?.perSecond ?? 0) / bound.perSecond, 2),
          fmt(((unbatched?.cpuMs ?? 0) * 1000) / (unbatched?.deliveries ?? 1), 1),
        ],
      ],
    );
    console.log(`(the burst's createRuns of ${fmt(o.burst)} runs took ${fmt(burstCommitted - burstStart, 1)} ms to commit)`);
  }
  const steadyBound = soak ? null : await benchRawSteady(o.subscribers, o.rate, o.seconds);
  const latencyRow = (label: string, sorted: number[], expected: number) => [
    label,
    `${fmt(sorted.length)} of ${fmt(expected)}`,
    fmt(percentile(sorted, 50), 2),
    fmt(percentile(sorted, 99), 2),
    fmt(sorted.at(-1) ?? Number.NaN, 2),
  ];
  printTable(
    `Fan-out latency, commit to subscriber: ${fmt(o.subscribers)} subscribers, ${o.rate} events/s for ${soak ? `${o.soakMinutes} min` : `${o.seconds} s`}${soak ? " (every 50th subscriber timed)" : ""}`,
    ["server", "deliveries", "p50 ms", "p99 ms", "max ms"],
    [
      latencyRow("Forge", latencies, expectedSteady),
      ...(steadyBound ? [latencyRow("bound: plain ws writing each event's message to every socket", steadyBound, steadyBound.length)] : []),
    ],
  );
  if (soak) {
    printTable(
      `Server memory during the soak (${fmt(o.subscribers)} subscribers, ${o.rate} events/s)${"gc" in globalThis ? ", after a full collection" : ""}`,
      ["minute", "rss MiB", "heap used MiB"],
      memory.map((m) => [fmt(m.minute, 1), fmt(m.rss / 2 ** 20, 1), fmt(m.heap / 2 ** 20, 1)]),
    );
  }
  return {
    deliveriesPerSecond,
    boundPerSecond: bound?.perSecond ?? Number.NaN,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}

/**
 * The bound: a plain ws server that acknowledges graphql-ws connections and, once every
 * client has subscribed, writes `events` messages of the shape and size Forge writes to
 * each of them, one event at a time to every socket.
 */
async function benchRawFanout(
  subscribers: number,
  events: number,
  corked: boolean,
): Promise<{ deliveries: number; seconds: number; perSecond: number; cpuMs: number }> {
  const { clients, subscribed, close } = await rawServer(subscribers);
  const createdAt = new Date().toISOString();
  const messages = Array.from({ length: events }, (_, i) =>
    JSON.stringify({
      id: "1",
      type: "next",
      payload: { data: { events: { id: String(1_000_000 + i), runId: `burst-${i}`, seq: 1, type: "run_created", createdAt } } },
    }),
  );
  const start = now();
  const cpuBefore = process.cpuUsage();
  if (corked) {
    // Each socket's messages in one write: the best the same bytes can do.
    for (const socket of subscribed) {
      socket._socket?.cork();
      for (const message of messages) socket.send(message);
      socket._socket?.uncork();
    }
  } else {
    for (const message of messages) for (const socket of subscribed) socket.send(message);
  }
  await waitForArrivals(clients, subscribers * events, 120_000);
  const cpu = process.cpuUsage(cpuBefore);
  const byRun = await clients.ask<Record<string, number[]>>({ stop: true }, "byRun");
  let deliveries = 0;
  let last = start;
  for (const arrivals of Object.values(byRun)) {
    deliveries += arrivals.length;
    for (const at of arrivals) last = Math.max(last, at);
  }
  await close();
  const seconds = (last - start) / 1000;
  return { deliveries, seconds, perSecond: deliveries / seconds, cpuMs: (cpu.user + cpu.system) / 1000 };
}
