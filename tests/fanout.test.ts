import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { chain, runInput, startForge, type TestForge } from "./support/forge.ts";
import { waitFor } from "./support/wait.ts";

/**
 * Fan-out (api/fanout.ts, api/ws-server.ts): subscribers with the same selection share one
 * execution of it per event and are written the same payload bytes, while each keeps its own
 * cursor and exactly-once delivery.
 */

interface RawSubscriber {
  opId: string;
  /** Every `next` message as it came, text and parsed. */
  messages: Array<{ text: string; payload: { data?: Record<string, unknown>; errors?: unknown[] } }>;
  close(): void;
}

/** A graphql-ws client written by hand, so the test sees the exact text of every message. */
async function rawSubscriber(url: string, query: string, variables: Record<string, unknown> = {}): Promise<RawSubscriber> {
  const socket = new WebSocket(url.replace(/^http/, "ws"), "graphql-transport-ws");
  const opId = randomUUID();
  const messages: RawSubscriber["messages"] = [];
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.on("open", () => socket.send(JSON.stringify({ type: "connection_init", payload: {} })));
    socket.on("message", (data) => {
      const text = String(data);
      const message = JSON.parse(text) as { type: string; id?: string; payload?: never };
      if (message.type === "connection_ack") {
        socket.send(JSON.stringify({ id: opId, type: "subscribe", payload: { query, variables } }));
        resolve();
      }
      if (message.type === "next" && message.id === opId) messages.push({ text, payload: message.payload as never });
    });
  });
  return { opId, messages, close: () => socket.close() };
}

/** The event a `next` message carries (the test fails here if it carries none). */
function eventOf(message: RawSubscriber["messages"][number]): Record<string, string | number> {
  const event = message.payload.data?.events;
  if (!event) throw new Error(`no event in ${message.text}`);
  return event as Record<string, string | number>;
}

const EVENTS = "subscription($after: ID) { events(afterId: $after) { id runId seq type } }";

async function createRuns(forge: TestForge, n: number, prefix: string): Promise<void> {
  for (let i = 0; i < n; i++) await forge.app.forge.createRun(runInput({ id: `${prefix}-${i}` }));
}

async function closeAll(forge: TestForge, subscribers: RawSubscriber[]): Promise<void> {
  for (const s of subscribers) s.close();
  await waitFor(() => forge.app.forge.feed.listenerCount === 0, "every follower let go");
}

describe("fan-out of subscription events", () => {
  it("40 subscribers with one selection: one execution per event, every event to each once and in order, the same payload bytes", async () => {
    const forge = await startForge();
    const url = await forge.app.start();
    const subscribers = await Promise.all(Array.from({ length: 40 }, () => rawSubscriber(url, EVENTS)));
    await waitFor(() => forge.app.forge.feed.listenerCount === 40, "every subscription followed");
    const before = { executions: forge.app.answers.executions, serializations: forge.app.answers.serializations };
    await createRuns(forge, 25, "r");
    await waitFor(() => subscribers.every((s) => s.messages.length === 25), "25 events to each subscriber");
    expect(forge.app.answers.executions - before.executions).toBe(25);
    expect(forge.app.answers.serializations - before.serializations).toBe(25);
    const first = subscribers[0] as RawSubscriber;
    const runIds = first.messages.map((m) => eventOf(m).runId);
    expect(runIds).toEqual(Array.from({ length: 25 }, (_, i) => `r-${i}`));
    for (const s of subscribers) {
      // The envelope carries the subscriber's own operation id; the payload is the same text for all.
      const payloads = s.messages.map((m) => m.text.slice(m.text.indexOf(',"payload":')));
      expect(payloads).toEqual(first.messages.map((m) => m.text.slice(m.text.indexOf(',"payload":'))));
      expect(s.messages.map((m) => JSON.parse(m.text))).toEqual(
        first.messages.map((m) => ({ id: s.opId, type: "next", payload: { data: m.payload.data } })),
      );
    }
    await closeAll(forge, subscribers);
  });

  it("subscribers resuming from different cursors share answers; a different selection, or a variable below the root field, does not", async () => {
    const forge = await startForge();
    const url = await forge.app.start();
    await createRuns(forge, 3, "old");
    const resumed = [
      await rawSubscriber(url, EVENTS, { after: "1" }),
      await rawSubscriber(url, EVENTS, { after: "2" }),
      await rawSubscriber(url, EVENTS, { after: "3" }),
    ];
    const other = await rawSubscriber(url, "subscription { events { runId type } }");
    const withFlag =
      "subscription($after: ID, $full: Boolean!) { events(afterId: $after) { id runId seq type stepId @include(if: $full) } }";
    const flagged = [await rawSubscriber(url, withFlag, { full: true }), await rawSubscriber(url, withFlag, { full: false })];
    const all = [...resumed, other, ...flagged];
    await waitFor(() => resumed[2]?.messages.length === 0 && forge.app.forge.feed.listenerCount === all.length, "all followed");
    // The resumed ones catch up on the stored events each has not seen.
    await waitFor(() => resumed[0]?.messages.length === 2 && resumed[1]?.messages.length === 1, "the backlog replayed");
    const before = forge.app.answers.executions;
    await createRuns(forge, 4, "new");
    await waitFor(() => all.every((s) => s.messages.some((m) => JSON.stringify(m.payload).includes("new-3"))), "the new events to all");
    // Four new events: one execution each for the resumed three (one selection), for `other`,
    // and for each value of $full.
    expect(forge.app.answers.executions - before).toBe(4 * 4);
    expect(flagged[0]?.messages.at(-1)?.payload.data?.events).toHaveProperty("stepId");
    expect(flagged[1]?.messages.at(-1)?.payload.data?.events).not.toHaveProperty("stepId");
    await closeAll(forge, all);
  });

  it("answers with errors reach each subscriber in order through the error mapping, between shared ones", async () => {
    // step_* events carry data ({"attempt":1} and more), over this budget; run_* events of a noop run have none.
    const forge = await startForge({ env: { FORGE_MAX_ANSWER_BYTES: "5" } });
    const url = await forge.app.start();
    const query = "subscription { events { runId seq type data } }";
    const subscribers = [await rawSubscriber(url, query), await rawSubscriber(url, query)];
    await waitFor(() => forge.app.forge.feed.listenerCount === 2, "both followed");
    await forge.app.forge.createRun(runInput({ id: "budget" }));
    await forge.app.forge.tickOnce(10);
    await waitFor(() => subscribers.every((s) => s.messages.length === 5), "the run's five events to both");
    for (const s of subscribers) {
      expect(s.messages.map((m) => eventOf(m).seq)).toEqual([1, 2, 3, 4, 5]);
      expect(s.messages.map((m) => (m.payload.errors ?? []).map((e) => (e as { extensions: unknown }).extensions))).toEqual([
        [],
        [],
        [{ code: "BAD_USER_INPUT" }],
        [{ code: "BAD_USER_INPUT" }],
        [],
      ]);
    }
    await closeAll(forge, subscribers);
  });

  it("answers are kept within FORGE_SHARED_ANSWERS_BYTES however many subscribers bring selections of their own", async () => {
    const forge = await startForge({ env: { FORGE_SHARED_ANSWERS_BYTES: "16384" } });
    const url = await forge.app.start();
    // Thirty selections nobody shares: each operation has a name of its own.
    const subscribers = await Promise.all(
      Array.from({ length: 30 }, (_, i) => rawSubscriber(url, `subscription S${i} { events { id runId seq type } }`)),
    );
    await waitFor(() => forge.app.forge.feed.listenerCount === 30, "every subscription followed");
    await createRuns(forge, 40, "m");
    await waitFor(() => subscribers.every((s) => s.messages.length === 40), "40 events to each");
    expect(forge.app.answers.executions).toBeGreaterThanOrEqual(30 * 40);
    // Each answer is charged well over 100 bytes: 16 KiB keeps fewer than 160 of the 1,200 made.
    expect(forge.app.answers.cached).toBeLessThan(160);
    await closeAll(forge, subscribers);
  });

  it("a reader with 20 subscriptions on one connection gets a 200-step run's every event, within a 256 KiB buffer bound", async () => {
    const forge = await startForge({ env: { FORGE_SUBSCRIBER_MAX_BUFFERED_BYTES: String(256 * 1024) } });
    const url = await forge.app.start();
    const socket = new WebSocket(url.replace(/^http/, "ws"), "graphql-transport-ws");
    let nexts = 0;
    let closed: number | null = null;
    await new Promise<void>((resolve) => {
      socket.on("open", () => socket.send(JSON.stringify({ type: "connection_init", payload: {} })));
      socket.on("message", (data) => {
        const message = JSON.parse(String(data)) as { type: string };
        if (message.type === "connection_ack") {
          for (let i = 0; i < 20; i++) socket.send(JSON.stringify({ id: `s${i}`, type: "subscribe", payload: { query: EVENTS } }));
          resolve();
        }
        if (message.type === "next") nexts++;
      });
      socket.on("close", (code) => {
        closed = code;
      });
    });
    await waitFor(() => forge.app.forge.feed.listenerCount === 20, "every subscription followed");
    await forge.app.forge.createRun(runInput({ id: "long", graph: chain(200) }));
    await forge.app.forge.tickOnce(10);
    // 403 events (run_created, run_started, two per step, run_succeeded) to each subscription.
    await waitFor(() => nexts === 20 * 403 || closed !== null, "every event, or the connection cut");
    expect({ nexts, closed }).toEqual({ nexts: 20 * 403, closed: null });
    socket.close();
    await waitFor(() => forge.app.forge.feed.listenerCount === 0, "every follower let go");
  });

  it("a subscriber that leaves and comes back with its last id gets the rest once, from the shared answers or the store", async () => {
    const forge = await startForge();
    const url = await forge.app.start();
    const steady = await rawSubscriber(url, EVENTS);
    const leaving = await rawSubscriber(url, EVENTS);
    await waitFor(() => forge.app.forge.feed.listenerCount === 2, "both followed");
    await createRuns(forge, 5, "a");
    await waitFor(() => leaving.messages.length === 5, "the first five");
    leaving.close();
    const lastId = String(eventOf(leaving.messages.at(-1) as RawSubscriber["messages"][number]).id);
    await createRuns(forge, 5, "b");
    const back = await rawSubscriber(url, EVENTS, { after: lastId });
    await createRuns(forge, 5, "c");
    await waitFor(() => steady.messages.length === 15 && back.messages.length === 10, "the rest to both");
    const ids = (s: RawSubscriber) => s.messages.map((m) => eventOf(m).runId);
    expect([...ids(leaving), ...ids(back)]).toEqual(ids(steady));
    await closeAll(forge, [steady, back]);
  });
});
