import type { Logger } from "pino";
import type { StoredEvent } from "../domain/event.ts";
import type { Db } from "../store/db.ts";
import { lastEventId, listEventsAfter } from "../store/events.ts";
import { type Channel, type CommitKind, PgChannel } from "../store/notify.ts";

/**
 * The process's single reader of new events. Committers call `notify()` after their
 * transaction commits; the feed then reads every event past the last id it has seen, in
 * id order, and hands each batch to its listeners. The notification is only a wake-up:
 * what listeners receive always comes from the store, and a periodic poll picks up
 * events whose notification was lost.
 *
 * On PostgreSQL the feed also tells other processes (NOTIFY after the commit) and hears
 * from them (LISTEN), so an event committed by any process reaches every process's
 * subscribers at once; without a notification it still arrives by the next poll.
 *
 * Reading `id > lastId` never skips an event because ids are handed out in commit order:
 * SQLite has one writer at a time, and on PostgreSQL every insert of events holds the
 * events lock until it commits (store/sql/append-events.ts).
 *
 * Besides events, the feed passes on the hint that runs were created, here or in another
 * process: it is what wakes an idle worker.
 */
export type FeedListener = (events: StoredEvent[]) => void;

const PAGE = 1000;

export class EventFeed {
  readonly #db: Db;
  readonly #log: Logger;
  readonly #listeners = new Set<FeedListener>();
  readonly #createdListeners = new Set<() => void>();
  #channel: Channel | null = null;
  #lastId = 0;
  #timer: NodeJS.Timeout | null = null;
  #pumping: Promise<void> | null = null;
  #again = false;
  #behind = false;
  #stopped = false;
  /** When this process first heard of commits not read yet (its own, or another's notification). */
  #heardAt: number | null = null;
  /** When this process knew each event handed out was committed (ms since the epoch): what delivery times count from. */
  readonly #knownAt = new WeakMap<StoredEvent, number>();

  constructor(db: Db, log: Logger) {
    this.#db = db;
    this.#log = log;
  }

  /** `pollMs`: how often it reads without a notification (the feedPollMs tunable). */
  async start(pollMs: number): Promise<void> {
    this.#lastId = await lastEventId(this.#db);
    if (this.#db.dialect === "postgres") {
      this.#channel = await PgChannel.listen(
        this.#db,
        (kind, reconnected) => {
          if (reconnected) this.#log.info("event notifications: listening again");
          this.#heard(kind);
        },
        (error) => this.#log.warn({ err: error }, "event notifications: connection problem (falling back to polling)"),
      );
    }
    this.#timer = setInterval(() => this.#wake(), pollMs);
    this.#timer.unref();
  }

  /** The highest event id handed to listeners. */
  get lastId(): number {
    return this.#lastId;
  }

  /** When this process knew `event` (one this feed handed out) was committed; undefined for an event read elsewhere. */
  knownAt(event: StoredEvent): number | undefined {
    return this.#knownAt.get(event);
  }

  /** Listeners attached now (subscriptions plus the worker): lets tests prove followers let go. */
  get listenerCount(): number {
    return this.#listeners.size;
  }

  subscribe(listener: FeedListener): () => void {
    this.#listeners.add(listener);
    // Catch up on what was committed while nobody listened (see notify).
    if (this.#behind) this.#wake();
    return () => this.#listeners.delete(listener);
  }

  /** Calls `listener` whenever runs were created, in this process or (PostgreSQL) another one. */
  onRunsCreated(listener: () => void): () => void {
    this.#createdListeners.add(listener);
    return () => this.#createdListeners.delete(listener);
  }

  /** This process committed events (`created`: among them new runs): read them, and tell the other processes. */
  notify(kind: CommitKind = "events"): void {
    if (this.#stopped) return;
    this.#channel?.publish(kind);
    this.#heard(kind);
  }

  #heard(kind: CommitKind): void {
    this.#heardAt ??= Date.now();
    if (kind === "created") for (const listener of this.#createdListeners) listener();
    this.#wake();
  }

  /** Something was committed: read it (coalesced with any read in progress). */
  #wake(): void {
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
        this.#wake();
      }
    });
  }

  /** Resolves once every event committed before the call has been handed out. */
  async flush(): Promise<void> {
    this.#wake();
    while (this.#pumping) await this.#pumping;
  }

  async #pump(): Promise<void> {
    try {
      for (;;) {
        // Commits heard of before this read are in it; without a notification (a poll), the read itself is when they became known.
        const knownAt = this.#heardAt ?? Date.now();
        this.#heardAt = null;
        const events = await listEventsAfter(this.#db, this.#lastId, PAGE);
        if (events.length === 0) return;
        this.#lastId = (events[events.length - 1] as StoredEvent).id;
        for (const event of events) this.#knownAt.set(event, knownAt);
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
    await this.#channel?.stop();
    await this.#pumping;
    // Listeners are not dropped here: each follower removes its own when its subscription
    // ends (the server ends them all before it stops the engine), so one still attached
    // after stop() is a follower that never let go, which listenerCount lets tests see.
    this.#createdListeners.clear();
  }
}
