import WebSocket from "ws";

/**
 * Child process of the fan-out benchmark: opens N connections speaking graphql-ws
 * (graphql-transport-ws), each subscribing with the same document, and stamps every `next`
 * message as it arrives (epoch milliseconds, comparable across processes). Messages are
 * kept as they came and read at the end, so that reading one does not delay stamping the
 * next: a thin client stands in for subscribers on other machines.
 *
 * Only every `sampleEvery`-th connection keeps its messages (a long soak would otherwise
 * fill this process's memory); all of them are counted.
 *
 * Messages from the parent: `{ count: true }` answers how many `next` messages arrived;
 * `{ stop: true }` closes the sockets and sends back, for each run (by the event's `runId`),
 * the arrival times of the kept deliveries.
 */
const [url, count, query, sampleEvery] = [
  process.argv[2] as string,
  Number(process.argv[3]),
  process.argv[4] as string,
  Number(process.argv[5] ?? 1),
];
const received: Array<[string, number]> = [];
let arrived = 0;
const sockets: WebSocket[] = [];
let subscribed = 0;
for (let i = 0; i < count; i++) {
  const socket = new WebSocket(url, "graphql-transport-ws", { perMessageDeflate: false });
  sockets.push(socket);
  socket.on("open", () => socket.send(JSON.stringify({ type: "connection_init", payload: {} })));
  socket.on("message", (data: Buffer) => {
    const at = performance.timeOrigin + performance.now();
    const text = data.toString();
    if (text.includes('"connection_ack"')) {
      socket.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query } }));
      subscribed++;
      if (subscribed === count) process.send?.({ ready: true });
      return;
    }
    arrived++;
    if (i % sampleEvery === 0) received.push([text, at]);
  });
  socket.on("error", (error) => process.send?.({ error: String(error) }));
}

process.on("message", (message: { stop?: boolean; count?: boolean }) => {
  if (message.count) {
    process.send?.({ arrived });
    return;
  }
  if (!message.stop) return;
  for (const socket of sockets) socket.close();
  const byRun: Record<string, number[]> = {};
  for (const [text, at] of received) {
    const m = JSON.parse(text) as { type: string; payload?: { data?: { events?: { runId: string } } } };
    const runId = m.type === "next" ? m.payload?.data?.events?.runId : undefined;
    if (runId === undefined) continue;
    const arrivals = byRun[runId] ?? [];
    arrivals.push(at);
    byRun[runId] = arrivals;
  }
  process.send?.({ byRun }, () => process.exit(0));
});
