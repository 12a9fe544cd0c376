import WebSocket from "ws";

/**
 * Child process of the latency benchmark: opens N connections speaking the graphql-ws
 * protocol (graphql-transport-ws), each following the `events` subscription, and stamps
 * every message the moment it arrives (epoch milliseconds with sub-millisecond precision,
 * comparable across processes). Messages are parsed only at the end, so that one client's
 * parsing does not delay the stamping of the next: a thin client stands in for many
 * subscribers on other machines.
 */
const [url, count] = [process.argv[2] as string, Number(process.argv[3])];
const received: Array<[string, number]> = [];
const sockets: WebSocket[] = [];
let subscribed = 0;
for (let i = 0; i < count; i++) {
  const socket = new WebSocket(url, "graphql-transport-ws");
  sockets.push(socket);
  socket.on("open", () => socket.send(JSON.stringify({ type: "connection_init", payload: {} })));
  socket.on("message", (data: Buffer) => {
    const at = performance.timeOrigin + performance.now();
    const text = data.toString();
    if (text.includes('"connection_ack"')) {
      socket.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query: "subscription { events { runId } }" } }));
      subscribed++;
      if (subscribed === count) process.send?.({ ready: true });
      return;
    }
    received.push([text, at]);
  });
}
process.on("message", (message: { stop?: boolean }) => {
  if (!message.stop) return;
  for (const socket of sockets) socket.close();
  const arrivals = received.flatMap(([text, at]) => {
    const m = JSON.parse(text) as { type: string; payload?: { data?: { events?: { runId: string } } } };
    return m.type === "next" && m.payload?.data?.events ? [[m.payload.data.events.runId, at] as [string, number]] : [];
  });
  process.send?.({ arrivals }, () => process.exit(0));
});
