import { randomUUID } from "node:crypto";
import pg from "pg";
import type { Db } from "./db.ts";

/**
 * Cross-process wake-ups on PostgreSQL: LISTEN/NOTIFY on one channel per Forge schema.
 *
 * A notification is only a hint that something was committed; readers always read the
 * store. The payload carries what kind of commit it was (runs created, or only events)
 * and which process sent it, so a process ignores its own.
 *
 * NOTIFY takes a database-wide lock at commit, so it is never sent inside Forge's own
 * write transactions: it goes out afterwards, as its own statement, and at most one is in
 * flight per process (commits made meanwhile are folded into the next one).
 */
export type CommitKind = "created" | "events";

export interface Channel {
  publish(kind: CommitKind): void;
  stop(): Promise<void>;
}

const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5_000;

export class PgChannel implements Channel {
  readonly #db: Db;
  readonly #config: pg.ClientConfig;
  readonly #name: string;
  readonly #me = randomUUID().slice(0, 8);
  readonly #onNotice: (kind: CommitKind, reconnected: boolean) => void;
  readonly #onError: (error: unknown) => void;
  #client: pg.Client | null = null;
  #stopped = false;
  #sending: Promise<void> | null = null;
  #pending: CommitKind | null = null;
  #reconnectTimer: NodeJS.Timeout | null = null;
  /** A connection attempt in progress, which stop() must wait for (or it would leak the connection). */
  #connecting: Promise<void> | null = null;

  private constructor(db: Db, onNotice: (kind: CommitKind, reconnected: boolean) => void, onError: (error: unknown) => void) {
    if (!db.pgConfig || !db.pgSchema) throw new Error("PgChannel needs a PostgreSQL database");
    this.#db = db;
    this.#config = db.pgConfig;
    // The schema is a plain identifier of at most 48 characters (url.ts), so this stays
    // within PostgreSQL's 63-byte names.
    this.#name = `forge_events:${db.pgSchema}`;
    this.#onNotice = onNotice;
    this.#onError = onError;
  }

  /** Starts listening; `onNotice` runs for every other process's commit, and after a reconnect. */
  static async listen(
    db: Db,
    onNotice: (kind: CommitKind, reconnected: boolean) => void,
    onError: (error: unknown) => void,
  ): Promise<PgChannel> {
    const channel = new PgChannel(db, onNotice, onError);
    await channel.#connect();
    return channel;
  }

  #connect(): Promise<void> {
    this.#connecting = this.#open().finally(() => {
      this.#connecting = null;
    });
    return this.#connecting;
  }

  async #open(): Promise<void> {
    const client = new pg.Client(this.#config);
    client.on("notification", (message) => {
      const [kind, from] = (message.payload ?? "").split(":");
      if (from === this.#me) return;
      this.#onNotice(kind === "created" ? "created" : "events", false);
    });
    client.on("error", (error) => this.#lost(client, error));
    client.on("end", () => this.#lost(client, null));
    try {
      await client.connect();
      await client.query(`LISTEN "${this.#name}"`);
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    if (this.#stopped) {
      await client.end().catch(() => {});
      return;
    }
    this.#client = client;
  }

  /** The listening connection broke (a server restart, a network fault): reconnect with backoff. */
  #lost(client: pg.Client, error: unknown): void {
    if (this.#client !== client || this.#stopped) return;
    this.#client = null;
    client.end().catch(() => {});
    if (error) this.#onError(error);
    this.#retry(RECONNECT_MIN_MS);
  }

  #retry(delay: number): void {
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null;
      if (this.#stopped) return;
      this.#connect().then(
        // Notifications sent while disconnected are lost: tell the process to catch up.
        () => this.#onNotice("created", true),
        (error) => {
          this.#onError(error);
          this.#retry(Math.min(delay * 2, RECONNECT_MAX_MS));
        },
      );
    }, delay);
    this.#reconnectTimer.unref();
  }

  publish(kind: CommitKind): void {
    if (this.#stopped) return;
    if (this.#sending) {
      if (this.#pending !== "created") this.#pending = kind;
      return;
    }
    this.#sending = this.#db.read.$executeRaw`SELECT pg_notify(${this.#name}, ${`${kind}:${this.#me}`})`
      .then(
        () => {},
        (error) => this.#onError(error),
      )
      .finally(() => {
        this.#sending = null;
        const next = this.#pending;
        this.#pending = null;
        if (next) this.publish(next);
      });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    await this.#connecting?.catch(() => {});
    while (this.#sending) await this.#sending;
    const client = this.#client;
    this.#client = null;
    await client?.end().catch(() => {});
  }
}
