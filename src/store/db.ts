import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { PrismaBetterSqlite3 } from "@prisma/adapter-better-sqlite3";
import { Prisma, PrismaClient } from "./generated/client.ts";

export type Tx = Prisma.TransactionClient;
type UnwrapTuple<P extends readonly unknown[]> = { [K in keyof P]: Awaited<P[K]> };

export { Prisma };

export interface DbOptions {
  url: string;
  synchronous?: "FULL" | "NORMAL";
}

/**
 * Forge's handle on its database.
 *
 * SQLite through Prisma's better-sqlite3 adapter runs every query of a client on one
 * connection, and the adapter serializes transactions but not plain queries: a plain
 * query issued while a transaction is open would run inside it and could read (or
 * write) uncommitted state. So Forge keeps two clients: `write` and `writeBatch` go
 * through transactions on the writer connection and nothing else touches it, and all
 * reads outside a transaction use a separate reader connection, which only ever sees
 * committed data (WAL gives readers a snapshot without blocking the writer).
 */
export class Db {
  readonly dialect = "sqlite" as const;
  readonly #writer: PrismaClient;
  /** Committed-data reads. */
  readonly read: PrismaClient;

  private constructor(writer: PrismaClient, reader: PrismaClient) {
    this.#writer = writer;
    this.read = reader;
  }

  static async open(options: DbOptions): Promise<Db> {
    const path = sqlitePath(options.url);
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    const client = () =>
      new PrismaClient({
        // Integer milliseconds: compact, sorts and compares numerically in SQL.
        adapter: new PrismaBetterSqlite3({ url: path, timeout: BUSY_TIMEOUT_MS }, { timestampFormat: "unixepoch-ms" }),
      });
    const writer = client();
    const reader = client();
    const synchronous = options.synchronous ?? "FULL";
    // journal_mode is stored in the file; the other pragmas are per connection.
    await writer.$queryRawUnsafe("PRAGMA journal_mode = WAL");
    for (const c of [writer, reader]) {
      await c.$executeRawUnsafe(`PRAGMA synchronous = ${synchronous}`);
      await c.$executeRawUnsafe("PRAGMA foreign_keys = ON");
    }
    return new Db(writer, reader);
  }

  /** Runs `fn` in a transaction on the writer connection; retried when another process holds the file's write lock. */
  write<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return retryBusy(() => this.#writer.$transaction(fn));
  }

  /**
   * Runs the given queries in one transaction: cheaper than `write` when no statement
   * depends on another's result. Prisma sends a batch of one query without a transaction
   * (and so without the adapter's lock, where it could land inside another request's open
   * transaction), so a single query goes through `write` instead.
   */
  writeBatch<const P extends Prisma.PrismaPromise<unknown>[]>(build: (db: PrismaClient | Tx) => [...P]): Promise<UnwrapTuple<P>> {
    // Building is free: a Prisma query runs only when awaited.
    if (build(this.#writer).length === 1) {
      return this.write(async (tx) => [await (build(tx)[0] as P[number])] as UnwrapTuple<P>);
    }
    return retryBusy(() => this.#writer.$transaction(build(this.#writer))) as Promise<UnwrapTuple<P>>;
  }

  async close(): Promise<void> {
    await Promise.all([this.#writer.$disconnect(), this.read.$disconnect()]);
  }
}

/**
 * How long a statement waits for another process's write lock before failing. The wait
 * is synchronous (better-sqlite3 blocks its thread), so it stays short: two seconds is
 * far more than any of Forge's own transactions holds the lock.
 */
const BUSY_TIMEOUT_MS = 2_000;
const SNAPSHOT_RETRIES = 5;

/**
 * A deferred transaction that read before another process wrote cannot upgrade to a
 * writer: SQLite answers SQLITE_BUSY_SNAPSHOT at once, and only starting over helps. A
 * plain SQLITE_BUSY has already waited BUSY_TIMEOUT_MS and is not retried.
 */
async function retryBusy<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (attempt >= SNAPSHOT_RETRIES || !isStaleSnapshot(error)) throw error;
    }
  }
}

function isStaleSnapshot(error: unknown): boolean {
  const cause = (error as { meta?: { driverAdapterError?: { cause?: { originalCode?: string } } } } | null)?.meta?.driverAdapterError
    ?.cause;
  return cause?.originalCode === "SQLITE_BUSY_SNAPSHOT" || /SQLITE_BUSY_SNAPSHOT/.test(String(error));
}

export function sqlitePath(url: string): string {
  if (!url.startsWith("file:")) throw new Error(`unsupported database URL (expected file:...): ${url}`);
  return url.slice("file:".length);
}

/** A unique constraint failed, whether the statement was a model query (P2002) or raw SQL (P2010). */
export function isUniqueViolation(error: unknown): boolean {
  if (!(error instanceof Prisma.PrismaClientKnownRequestError)) return false;
  if (error.code === "P2002") return true;
  const cause = (error.meta?.driverAdapterError as { cause?: { kind?: string } } | undefined)?.cause;
  return error.code === "P2010" && cause?.kind === "UniqueConstraintViolation";
}
