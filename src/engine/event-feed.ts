import type { StoredEvent } from "../domain/event.ts";
import type { Db } from "../store/db.ts";
import { lastEventId, listEventsAfter } from "../store/events.ts";

/**
 * The process's single reader of new events. Committers call `notify()` after their
 * transaction commits; the feed then reads every event past the last id it has seen, in
 * id order, and hands each batch to its listeners. The notification is only a wake-up:
 * what listeners receive always comes from the store, and a periodic poll picks up
 * events committed by other processes or whose notification was lost.
 *
 * On SQLite one writer commits at a time and ids are allocated inside the write, so id
 * order is commit order and reading `id > lastId` never skips an event.
 */
export type FeedListener = (events: StoredEvent[]) => void;

/** Bounds how late an event committed elsewhere (or with a lost notification) is seen.
 * Half a second costs one indexed query per interval. */
export const FEED_POLL_MS = 500;
const PAGE = 1000;

export class EventFeed {
  readonly #db: Db;
  readonly #listeners = new Set<FeedListener>();
  #lastId = 0;
  #timer: NodeJS.Timeout | null = null;
  #pumping: Promise<void> | null = null;
  #again = false;
  #behind = false;
  #stopped = false;

  constructor(db: Db) {
    this.#db = db;
  }

  async start(pollMs = FEED_POLL_MS): Promise<void> {
    this.#lastId = await lastEventId(this.#db);
    this.#timer = setInterval(() => this.notify(), pollMs);
    this.#timer.unref();
  }

  /** The highest event id handed to listeners. */
  get lastId(): number {
    return this.#lastId;
  }

  /** Listeners attached now (subscriptions plus the worker): lets tests prove followers let go. */
  get listenerCount(): number {
    return this.#listeners.size;
  }

  subscribe(listener: FeedListener): () => void {
    this.#listeners.add(listener);
    // Catch up on what was committed while nobody listened (see notify).
    if (this.#behind) this.notify();
    return () => this.#listeners.delete(listener);
  }

  /** Something was committed: read it (coalesced with any read in progress). */
  notify(): void {
    if (this.#stopped) return;
    // With no listener there is nobody to hand events to: remember to catch up instead of
    // reading now, which keeps commits cheap in a process nobody is watching.
    if (this.#listeners.size === 0) {
      this.#behind = true;
      return;
    }
    this.#behind = false;
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    this.#pumping = this.#pump().finally(() => {
      this.#pumping = null;
      if (this.#again) {
        this.#again = false;
        this.notify();
      }
    });
  }

  /** Resolves once every event committed before the call has been handed out. */
  async flush(): Promise<void> {
    this.notify();
    while (this.#pumping) await this.#pumping;
  }

  async #pump(): Promise<void> {
    try {
      for (;;) {
        const events = await listEventsAfter(this.#db, this.#lastId, PAGE);
        if (events.length === 0) return;
        this.#lastId = (events[events.length - 1] as StoredEvent).id;
        for (const listener of this.#listeners) listener(events);
        if (events.length < PAGE) return;
      }
    } catch {
      // The store is unreachable (closing, or a transient fault): the next poll retries.
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#pumping;
    this.#listeners.clear();
  }
}
