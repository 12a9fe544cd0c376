import { type StoredEvent, TERMINAL_EVENT_TYPES } from "../domain/event.ts";
import { RunNotFound } from "../errors.ts";
import type { ForgeMetrics } from "../ops/metrics.ts";
import type { Db } from "../store/db.ts";
import { lastEventId, listEventsAfter, listRunEvents } from "../store/events.ts";
import { findRun } from "../store/runs.ts";
import type { EventFeed } from "./event-feed.ts";

/** What a follower reads from and counts in. */
export interface FollowDeps {
  db: Db;
  feed: EventFeed;
  metrics: ForgeMetrics;
}

/**
 * Followers: the readers behind the subscriptions. Each keeps its own cursor and takes
 * events from the feed only while they continue that cursor exactly (deduplicated by
 * position); anything else (a gap, a backlog, a slow consumer) is read from the store,
 * which is the truth. So every event past the cursor is delivered once, in order.
 */
const PAGE = 500;
/** A follower that falls this far behind stops buffering and catches up from the store. */
const MAX_BUFFERED = 10_000;

interface Cursor<K extends "seq" | "id"> {
  key: K;
  at: number;
  accept: (e: StoredEvent) => boolean;
  fromStore: (after: number) => Promise<StoredEvent[]>;
  isLast: (e: StoredEvent) => boolean;
}

/**
 * Yields the events past the cursor in batches (each in order, the batches in order): what
 * arrived together is handed over together, so a subscriber can write a burst at once.
 * The cursor moves past a batch when the consumer asks for the next one.
 */
async function* follow<K extends "seq" | "id">(deps: FollowDeps, cursor: Cursor<K>, signal: AbortSignal): AsyncGenerator<StoredEvent[]> {
  const { feed, metrics } = deps;
  metrics.subscriptionOpened();
  let buffered: StoredEvent[] = [];
  let overflowed = false;
  let wake: (() => void) | null = null;
  const unsubscribe = feed.subscribe((events) => {
    for (const e of events) if (cursor.accept(e)) buffered.push(e);
    if (buffered.length > MAX_BUFFERED) {
      buffered = [];
      overflowed = true;
    }
    wake?.();
  });
  const onAbort = () => wake?.();
  signal.addEventListener("abort", onAbort);
  try {
    // The first read always goes to the store: the feed only carries what is committed
    // after the subscription above, and this also replays the backlog.
    let fromStore = true;
    while (!signal.aborted) {
      buffered = buffered.filter((e) => e[cursor.key] > cursor.at);
      const next = buffered[0];
      let batch: StoredEvent[];
      let live = false;
      if (fromStore || overflowed || (next && next[cursor.key] !== cursor.at + 1)) {
        overflowed = false;
        batch = await cursor.fromStore(cursor.at);
        fromStore = batch.length === PAGE;
      } else if (next) {
        // Contiguous with what was delivered: no store read needed.
        let n = 1;
        while (n < buffered.length && (buffered[n] as StoredEvent)[cursor.key] === (buffered[n - 1] as StoredEvent)[cursor.key] + 1) n++;
        batch = buffered.slice(0, n);
        live = true;
      } else {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = null;
        continue;
      }
      const out: StoredEvent[] = [];
      let last = false;
      for (const event of batch) {
        if (event[cursor.key] <= cursor.at) continue;
        out.push(event);
        if (cursor.isLast(event)) {
          last = true;
          break;
        }
      }
      if (out.length > 0) {
        // Delivery time is measured on live events only, from when this process knew each was
        // committed: a backlog replayed from the store (a resume an hour later) says nothing
        // about how fast events reach subscribers, and an event's createdAt is when its change
        // was made in memory, before the rest of its tick (a slow step) and the commit.
        if (live) metrics.delivered(out, Date.now(), (event) => feed.knownAt(event));
        yield out;
        cursor.at = (out[out.length - 1] as StoredEvent)[cursor.key];
      }
      if (last) return;
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    unsubscribe();
    metrics.subscriptionClosed();
  }
}

/**
 * A run's events with seq > afterSeq: first the stored ones, then live ones, ending after
 * the run's terminal event. The caller has checked that the run exists and passes its seq
 * and whether it had finished, so a follower of a finished run that has seen everything
 * ends at once.
 */
export function followRun(
  deps: FollowDeps,
  run: { id: string; seq: number; terminal: boolean },
  afterSeq: number,
  signal: AbortSignal,
): AsyncGenerator<StoredEvent[]> {
  const cursor: Cursor<"seq"> = {
    key: "seq",
    at: afterSeq,
    accept: (e) => e.runId === run.id,
    fromStore: async (after) => {
      const events = await listRunEvents(deps.db, run.id, after, PAGE);
      // A run pruned while it was followed (API.md, "Retention") will never send its terminal
      // event: the follower ends NOT_FOUND, as for a run that never existed, instead of waiting forever.
      if (events.length === 0 && !(await findRun(deps.db, run.id))) throw new RunNotFound(run.id);
      return events;
    },
    isLast: (e) => TERMINAL_EVENT_TYPES.has(e.type),
  };
  if (run.terminal && afterSeq >= run.seq) return (async function* () {})();
  return follow(deps, cursor, signal);
}

/**
 * Every run's events with id > afterId, in id order, never ending. Without afterId it
 * starts after the last event committed when it began.
 */
export async function* followAll(deps: FollowDeps, afterId: number | null, signal: AbortSignal): AsyncGenerator<StoredEvent[]> {
  const at = afterId ?? (await lastEventId(deps.db));
  yield* follow(
    deps,
    { key: "id", at, accept: () => true, fromStore: (after) => listEventsAfter(deps.db, after, PAGE), isLast: () => false },
    signal,
  );
}
