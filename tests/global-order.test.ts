import { describe, expect, it, onTestFinished } from "vitest";
import { TestClock } from "../src/clock.ts";
import type { RunChange } from "../src/domain/change.ts";
import { Db } from "../src/store/db.ts";
import { listEventsAfter } from "../src/store/events.ts";
import { writeStepsAndEvents } from "../src/store/sql/commit-changes.ts";
import { AllEventsSubscription, GetRun } from "./support/documents.ts";
import { dialect, freshDbUrl, runInput, startForge, type TestForge } from "./support/forge.ts";
import { signal, waitFor } from "./support/wait.ts";
import { subscribe, wsClient } from "./support/ws.ts";

/**
 * The global event position (`events(afterId)`) as a resume cursor: a reader that has seen
 * id N never later finds a committed event below N that it has not seen, however many
 * writers commit at once.
 */
describe("global event order", () => {
  it("a reader tailing by id while four writers create and tick runs concurrently sees every event, in order", async () => {
    const dbUrl = freshDbUrl();
    // On PostgreSQL each writer is an engine of its own with its own connection pool, as
    // separate processes would be. On SQLite the four share one engine: in one process,
    // two connections that both write block each other's thread (the driver waits for
    // locks synchronously), and a process writes through one connection anyway.
    const engines: TestForge[] = [];
    for (let i = 0; i < (dialect === "postgres" ? 4 : 1); i++) engines.push(await startForge({ dbUrl }));
    const writers = [0, 1, 2, 3].map((i) => engines[i % engines.length] as TestForge);
    const reader = await Db.open({ url: dbUrl });
    onTestFinished(() => reader.close());

    const seen: number[] = [];
    let writing = true;
    const tail = (async () => {
      let last = 0;
      for (;;) {
        const done = !writing; // decided before the read, so the final read follows every commit
        const events = await listEventsAfter(reader, last, 500);
        for (const e of events) seen.push(e.id);
        if (events.length > 0) last = (events[events.length - 1] as { id: number }).id;
        if (done && events.length === 0) return;
        // On SQLite a read completes without touching the event loop; let the writers run.
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    await Promise.all(
      writers.map(async (w, i) => {
        for (let round = 0; round < 15; round++) {
          const size = 1 + ((round * 7 + i * 3) % 12);
          await w.app.forge.createRuns(Array.from({ length: size }, () => runInput()));
          await w.app.forge.tickOnce(5 + i);
        }
      }),
    );
    writing = false;
    await tail;

    const all = (await reader.read.event.findMany({ select: { id: true }, orderBy: { id: "asc" } })).map((e) => Number(e.id));
    expect(all.length).toBeGreaterThan(500);
    expect(seen).toEqual(all); // every id, each once, in increasing order
  });

  it.runIf(dialect === "postgres")(
    "without the events lock, out-of-order commits make a tailing reader skip an event; with it they cannot",
    async () => {
      const forge = await startForge();
      const db = forge.app.forge.db;
      const { data } = await forge.gql(GetRun, { id: (await forge.app.forge.createRun(runInput())).id });
      const runId = data?.run?.id as string;
      const note = (seq: number): RunChange => ({
        runId,
        owner: "",
        epoch: 0,
        baseSeq: seq - 1,
        run: { status: "PENDING", startedAt: null, finishedAt: null, updatedAt: new Date(), wakeAt: null },
        steps: [],
        // Any event will do: only its id matters here.
        events: [{ type: "run_started", stepId: null, data: null, createdAt: new Date() }],
      });

      // Writer 1 inserts first (taking the lower id) but commits last; writer 2 commits in between.
      async function interleave(insert: (seq: number) => (tx: Parameters<Parameters<Db["write"]>[0]>[0]) => Promise<unknown>) {
        const base = (await db.read.event.aggregate({ _max: { seq: true } }))._max.seq ?? 0;
        const gate = signal();
        const inserted = signal();
        const slow = db.write(async (tx) => {
          await insert(base + 1)(tx);
          inserted.fire();
          await gate.fired;
        });
        await inserted.fired;
        const fast = db.write(insert(base + 2));
        // Give the second writer time to commit, or to queue behind the lock.
        await new Promise((resolve) => setTimeout(resolve, 300));
        const before = await listEventsAfter(db, 0, 1000);
        const lastSeen = before[before.length - 1]?.id ?? 0;
        gate.fire();
        await Promise.all([slow, fast]);
        const after = await listEventsAfter(db, lastSeen, 1000);
        const all = await listEventsAfter(db, 0, 1000);
        const delivered = [...before, ...after].map((e) => e.id);
        return { skipped: all.map((e) => e.id).filter((id) => !delivered.includes(id)) };
      }

      // The hazard, made on purpose: plain inserts, no lock.
      const unlocked = await interleave(
        (seq) => (tx) =>
          tx.$executeRaw`INSERT INTO events (run_id, seq, type, created_at) VALUES (${runId}, ${seq}, 'run_started', ${new Date()})`,
      );
      expect(unlocked.skipped).toHaveLength(1);

      // Forge's own write path takes the events lock: the second writer waits, nothing is skipped.
      const locked = await interleave((seq) => (tx) => writeStepsAndEvents(db, tx, [note(seq)]));
      expect(locked.skipped).toEqual([]);
    },
  );

  it.runIf(dialect === "postgres")(
    "a commit in one engine reaches another engine's subscribers and wakes its worker through LISTEN/NOTIFY, not the poll",
    async () => {
      const dbUrl = freshDbUrl();
      const clock = new TestClock();
      // A poll this slow cannot deliver within the test: only a notification can.
      const watcher = await startForge({ dbUrl, clock, feedPollMs: 600_000, env: { FORGE_WORKER_ENABLED: "true" } });
      const creator = await startForge({ dbUrl, clock, feedPollMs: 600_000 });
      const url = await watcher.app.start();
      const stream = subscribe(wsClient(url, "admin-token-for-tests"), AllEventsSubscription, {});
      await waitFor(() => watcher.app.forge.feed.listenerCount > 0, "the subscription to attach");

      const run = await creator.app.forge.createRun(runInput());
      // The watcher's worker is idle on a test clock that never moves: only the
      // notification that a run was created can wake it.
      await waitFor(async () => (await creator.app.forge.getRun(run.id))?.status === "SUCCEEDED", "the watcher's worker to run it");
      await waitFor(() => stream.items.some((i) => i.events.type === "run_succeeded"), "the watcher's subscriber to see it");
      expect(stream.items.map((i) => i.events.type)).toEqual([
        "run_created",
        "run_started",
        "step_started",
        "step_succeeded",
        "run_succeeded",
      ]);
      stream.close();
    },
  );
});
