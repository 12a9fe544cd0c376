import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { AllEventsSubscription, CreateRun, RunEventsSubscription, TickOnce } from "./support/documents.ts";
import { ADMIN, API, chain, runInput, startForge } from "./support/forge.ts";
import { waitFor } from "./support/wait.ts";
import { subscribe, wsClient } from "./support/ws.ts";

const seqs = (items: Array<{ runEvents: { seq: number } }>) => items.map((i) => i.runEvents.seq);

describe("runEvents subscription over graphql-ws", () => {
  it("replays stored events, follows live ones, and completes after the terminal event", async () => {
    const forge = await startForge();
    const url = await forge.app.start();
    const id = (await forge.gql(CreateRun, { input: runInput({ graph: chain(2) }) })).data?.createRun.id as string;

    const sub = subscribe(wsClient(url), RunEventsSubscription, { runId: id });
    await waitFor(() => sub.items.length === 1, "the stored run_created");
    await forge.gql(TickOnce, {});
    await sub.done;
    expect(seqs(sub.items)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(sub.items.map((i) => i.runEvents.type)).toEqual([
      "run_created",
      "run_started",
      "step_started",
      "step_succeeded",
      "step_started",
      "step_succeeded",
      "run_succeeded",
    ]);
    expect(sub.errors).toEqual([]);
  });

  it("a client that reconnects with the last seq it saw misses nothing and gets nothing twice, however often it drops", async () => {
    const forge = await startForge();
    const url = await forge.app.start();
    // A chain of approvals: each signal commits new events while the watcher may be gone or just back.
    const steps = Object.fromEntries(
      Array.from({ length: 12 }, (_, i) => [`g${i}`, { type: "approval", deps: i === 0 ? [] : [`g${i - 1}`] }]),
    );
    const id = (await forge.gql(CreateRun, { input: runInput({ graph: { steps } }) })).data?.createRun.id as string;
    const seen: number[] = [];
    let drops = 0;
    for (let round = 0; ; round++) {
      const sub = subscribe(wsClient(url), RunEventsSubscription, { runId: id, afterSeq: seen.at(-1) ?? 0 });
      // Live events arrive while this connection is up: tick (starting the next approval) and signal it.
      const gate = `g${round}`;
      if (round < 12) {
        await forge.app.forge.tickOnce(10);
        const before = sub.items.length;
        await forge.app.forge.signalRun(id, gate, { round });
        // Drop the connection at a different moment each round: right away, or once some live events came in.
        if (round % 3 === 1) await waitFor(() => sub.items.length > before, "a live event");
      } else {
        await forge.app.forge.tickOnce(10); // the last step finishes the run
      }
      if (round % 3 === 2) await new Promise((resolve) => setTimeout(resolve, 20));
      if (round >= 12) {
        await sub.done;
        seen.push(...seqs(sub.items));
        break;
      }
      sub.close();
      drops++;
      seen.push(...seqs(sub.items));
    }
    const run = await forge.app.forge.getRun(id);
    expect(run?.status).toBe("SUCCEEDED");
    expect(drops).toBe(12);
    expect(seen).toEqual(Array.from({ length: run?.seq ?? 0 }, (_, i) => i + 1));

    // Resuming after the terminal event completes at once with nothing.
    const after = subscribe(wsClient(url), RunEventsSubscription, { runId: id, afterSeq: run?.seq ?? 0 });
    await after.done;
    expect(after.items).toEqual([]);
    // Resuming in the middle of a finished run replays the rest and completes.
    const middle = subscribe(wsClient(url), RunEventsSubscription, { runId: id, afterSeq: 3 });
    await middle.done;
    expect(seqs(middle.items)).toEqual(Array.from({ length: (run?.seq ?? 0) - 3 }, (_, i) => i + 4));
  });

  it("fifty concurrent subscribers each see every event once, in order", async () => {
    const forge = await startForge();
    const url = await forge.app.start();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push((await forge.gql(CreateRun, { input: runInput({ graph: chain(3) }) })).data?.createRun.id as string);
    const client = wsClient(url);
    const subs = Array.from({ length: 50 }, (_, i) => ({
      runId: ids[i % ids.length] as string,
      sub: subscribe(client, RunEventsSubscription, { runId: ids[i % ids.length] as string }),
    }));
    await Promise.all([forge.gql(TickOnce, { limit: 2 }), forge.gql(TickOnce, { limit: 2 }), forge.gql(TickOnce, { limit: 2 })]);
    await forge.gql(TickOnce, { limit: 10 });
    await Promise.all(subs.map((s) => s.sub.done));
    for (const { runId, sub } of subs) {
      expect(seqs(sub.items)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(sub.items.every((i) => i.runEvents.runId === runId)).toBe(true);
    }
    await waitFor(() => forge.app.forge.feed.listenerCount === 0, "followers to unsubscribe");
  });

  it("ends with NOT_FOUND for an unknown run", async () => {
    const forge = await startForge();
    const url = await forge.app.start();
    const sub = subscribe(wsClient(url), RunEventsSubscription, { runId: "missing" });
    await sub.done;
    expect(sub.items).toEqual([]);
    expect(sub.errors.map((e) => e.extensions?.code)).toEqual(["NOT_FOUND"]);
  });

  it("stops following when the client unsubscribes before the run ends", async () => {
    const forge = await startForge();
    const url = await forge.app.start();
    const id = (await forge.gql(CreateRun, { input: runInput() })).data?.createRun.id as string;
    const sub = subscribe(wsClient(url), RunEventsSubscription, { runId: id });
    await waitFor(() => sub.items.length === 1, "run_created");
    expect(forge.app.forge.feed.listenerCount).toBe(1);
    sub.close();
    await waitFor(() => forge.app.forge.feed.listenerCount === 0, "the follower to stop");
  });
});

describe("events subscription", () => {
  it("streams every run's events in id order, from the start when afterId is given", async () => {
    const forge = await startForge();
    const url = await forge.app.start();
    for (let i = 0; i < 3; i++) await forge.gql(CreateRun, { input: runInput() });
    const live = subscribe(wsClient(url), AllEventsSubscription, {});
    const replay = subscribe(wsClient(url), AllEventsSubscription, { afterId: "0" });
    await waitFor(() => replay.items.length === 3, "the three run_created");
    // The live subscriber began after those three were committed.
    await Promise.all([forge.gql(TickOnce, { limit: 1 }), forge.gql(TickOnce, { limit: 1 }), forge.gql(TickOnce, { limit: 1 })]);
    await waitFor(() => replay.items.length === 15 && live.items.length === 12, "all events");
    const ids = replay.items.map((i) => Number(i.events.id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(15);
    expect(live.items.map((i) => i.events.id)).toEqual(replay.items.slice(3).map((i) => i.events.id));
    // Within each run, seq order is kept.
    const byRun = new Map<string, number[]>();
    for (const { events } of replay.items) byRun.set(events.runId, [...(byRun.get(events.runId) ?? []), events.seq]);
    for (const list of byRun.values()) expect(list).toEqual([1, 2, 3, 4, 5]);
  });

  it("refuses a malformed afterId with BAD_USER_INPUT", async () => {
    const forge = await startForge();
    const url = await forge.app.start();
    const sub = subscribe(wsClient(url), AllEventsSubscription, { afterId: "-3" });
    await sub.done;
    expect(sub.errors.map((e) => e.extensions?.code)).toEqual(["BAD_USER_INPUT"]);
  });
});

describe("graphql-ws auth", () => {
  it("with FORGE_API_TOKEN set, a connection without it is refused with 4403", async () => {
    const forge = await startForge({ env: { FORGE_API_TOKEN: API } });
    const url = await forge.app.start();
    const id = (await forge.gql(CreateRun, { input: runInput() }, API)).data?.createRun.id as string;
    const refused = subscribe(wsClient(url, null), RunEventsSubscription, { runId: id });
    await expect(refused.done).rejects.toMatchObject({ code: 4403 });
    for (const token of [API, ADMIN]) {
      const ok = subscribe(wsClient(url, token), RunEventsSubscription, { runId: id });
      await waitFor(() => ok.items.length === 1, "run_created");
      ok.close();
    }
  });
});

describe("runEvents subscription cursor", () => {
  it("refuses an afterSeq past the run's last event instead of waiting forever, with no HTTP detail in the error", async () => {
    const forge = await startForge();
    const url = await forge.app.start();
    const id = (await forge.gql(CreateRun, { input: runInput() })).data?.createRun.id as string;
    const sub = subscribe(wsClient(url), RunEventsSubscription, { runId: id, afterSeq: 50 });
    await sub.done;
    expect(sub.errors).toEqual([
      expect.objectContaining({ message: "afterSeq: is past the run's last event (seq 1)", extensions: { code: "BAD_USER_INPUT" } }),
    ]);
    expect(forge.app.forge.feed.listenerCount).toBe(0);
  });
});

describe("shutdown", () => {
  it("stopping the server does not wait for a WebSocket client that stopped reading", { timeout: 15_000 }, async () => {
    const forge = await startForge({ autoStop: false });
    const url = await forge.app.start();
    const socket = new WebSocket(url.replace(/^http/, "ws"), "graphql-transport-ws");
    await new Promise((resolve) => socket.once("open", resolve));
    socket.send(JSON.stringify({ type: "connection_init" }));
    await new Promise((resolve) => socket.once("message", resolve));
    // A client that never reads again never answers the close handshake; ws would wait 30 s.
    (socket as unknown as { _socket: { pause(): void } })._socket.pause();
    await forge.stop();
    socket.terminate();
  });

  it("stopping the server ends open subscriptions and lets their followers go", async () => {
    const forge = await startForge({ autoStop: false });
    const url = await forge.app.start();
    const id = (await forge.gql(CreateRun, { input: runInput() })).data?.createRun.id as string;
    const sub = subscribe(wsClient(url), RunEventsSubscription, { runId: id });
    await waitFor(() => sub.items.length === 1, "run_created");
    expect(forge.app.forge.feed.listenerCount).toBe(1);
    await forge.stop();
    await expect(sub.done).rejects.toMatchObject({ code: 1001 });
    expect(forge.app.forge.feed.listenerCount).toBe(0);
  });
});
