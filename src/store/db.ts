import { mkdirSync } from "node:fs";
import { open } from "node:fs/promises";
import { dirname } from "node:path";
import { PrismaBetterSqlite3 } from "@prisma/adapter-better-sqlite3";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { WalCheckpointer } from "./checkpointer.ts";
import { type Dialect, postgres, sqlite } from "./dialect.ts";
import { Prisma, PrismaClient } from "./generated/client.ts";
import { PrismaClient as PgPrismaClient } from "./generated-pg/client.ts";
import { isPostgresUrl, POSTGRES_DEFAULTS, type PostgresOptions, postgresSchema } from "./url.ts";

export type Tx = Prisma.TransactionClient;
type UnwrapTuple<P extends readonly unknown[]> = { [K in keyof P]: Awaited<P[K]> };

export { Prisma };

/** SQLite: the size a WAL file is cut back to when it starts over (16 MiB). */
const WAL_SIZE_LIMIT_BYTES = 16 * 1024 * 1024;

export interface DbOptions {
  url: string;
  synchronous?: "FULL" | "NORMAL";
  postgres?: Partial<PostgresOptions>;
}

/**
 * Forge's handle on its database: SQLite for a `file:` URL, PostgreSQL for a
 * `postgres://` or `postgresql://` one. Both clients are generated from the one data
 * model (prisma/schema.prisma), so they expose the same models; `sql` holds the few
 * statements that differ.
 *
 * SQLite through Prisma's better-sqlite3 adapter runs every query of a client on one
 * connection, and the adapter serializes transactions but not plain queries: a plain
 * query issued while a transaction is open would run inside it and could read (or
 * write) uncommitted state. So on SQLite Forge keeps two clients: `write` and
 * `writeBatch` go through transactions on the writer connection and nothing else touches
 * it, and all reads outside a transaction use a separate reader connection, which only
 * ever sees committed data (WAL gives readers a snapshot without blocking the writer).
 * On PostgreSQL every transaction and every plain query takes its own pooled
 * connection, so one client serves both.
 */
export class Db {
  readonly sql: Dialect;
  readonly #writer: PrismaClient;
  /** Committed-data reads. */
  readonly read: PrismaClient;
  /** PostgreSQL only: how to open a connection outside the pool (for LISTEN), and Forge's schema. */
  readonly pgConfig: pg.ClientConfig | null;
  readonly pgSchema: string | null;
  readonly #pool: pg.Pool | null;
  /** Interactive transactions: how long to wait for a connection, and how long one may stay open. */
  readonly #tx: { maxWait?: number; timeout?: number };
  #closed = false;
  /** SQLite on a file: the thread that checkpoints the WAL (see checkpointer.ts). */
  #checkpointer: WalCheckpointer | null = null;
  /** SQLite on a file with synchronous=FULL: its WAL, which syncWalSoFar syncs. */
  #walToSync: string | null = null;

  private constructor(
    sql: Dialect,
    writer: PrismaClient,
    reader: PrismaClient,
    pg: { pool: pg.Pool; config: pg.ClientConfig; schema: string; options: PostgresOptions } | null = null,
  ) {
    this.sql = sql;
    this.#writer = writer;
    this.read = reader;
    this.#pool = pg?.pool ?? null;
    this.pgConfig = pg?.config ?? null;
    this.pgSchema = pg?.schema ?? null;
    // Prisma's defaults (2 s to get a connection, 5 s open) suit SQLite's in-process lock;
    // on PostgreSQL a connection may take as long as the configured connect timeout.
    this.#tx = pg ? { maxWait: pg.options.connectTimeoutMs, timeout: TX_TIMEOUT_MS } : {};
  }

  get dialect(): Dialect["name"] {
    return this.sql.name;
  }

  static async open(options: DbOptions): Promise<Db> {
    return isPostgresUrl(options.url)
      ? Db.#openPostgres(options.url, { ...POSTGRES_DEFAULTS, ...options.postgres })
      : Db.#openSqlite(options);
  }

  static async #openSqlite(options: DbOptions): Promise<Db> {
    const path = sqlitePath(options.url);
    const onFile = path !== ":memory:";
    if (onFile) mkdirSync(dirname(path), { recursive: true });
    const client = () =>
      new PrismaClient({
        // Integer milliseconds: compact, sorts and compares numerically in SQL.
        adapter: new PrismaBetterSqlite3({ url: path, timeout: BUSY_TIMEOUT_MS }, { timestampFormat: "unixepoch-ms" }),
      });
    const writer = client();
    const reader = client();
    const synchronous = options.synchronous ?? "FULL";
    try {
      // journal_mode is stored in the file; the other pragmas are per connection. Processes
      // opening a new file together can find it locked while one of them switches it to WAL.
      await whileLocked(() => writer.$queryRawUnsafe("PRAGMA journal_mode = WAL"));
      for (const c of [writer, reader]) {
        await whileLocked(() => c.$executeRawUnsafe(`PRAGMA synchronous = ${synchronous}`));
        await whileLocked(() => c.$executeRawUnsafe("PRAGMA foreign_keys = ON"));
      }
      // Checkpoints run on a thread of their own, not inside the writer's commits.
      if (onFile) {
        await writer.$queryRawUnsafe("PRAGMA wal_autocheckpoint = 0");
        // A WAL that grew during a burst is cut back to this size when it starts over.
        await writer.$queryRawUnsafe(`PRAGMA journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
      }
    } catch (error) {
      // Nobody else holds these connections: close them, or the file stays open.
      await Promise.allSettled([writer.$disconnect(), reader.$disconnect()]);
      throw error;
    }
    const db = new Db(sqlite, writer, reader);
    if (onFile) {
      if (synchronous === "FULL") db.#walToSync = `${path}-wal`;
      db.#checkpointer = new WalCheckpointer(path, {
        // Should a transaction be open on the writer just then, the checkpoint fails inside it
        // (harmlessly) and is tried after the thread's next one.
        rewind: () => void writer.$queryRawUnsafe("PRAGMA wal_checkpoint(PASSIVE)").catch(() => {}),
        onFailure: () => {
          // Without the thread the writer checkpoints again (SQLite's default), so the WAL stays bounded.
          db.#checkpointer = null;
          if (!db.#closed) void writer.$queryRawUnsafe("PRAGMA wal_autocheckpoint = 1000").catch(() => {});
        },
      });
    }
    return db;
  }

  static async #openPostgres(url: string, o: PostgresOptions): Promise<Db> {
    const { schema } = postgresTarget(url);
    const config = postgresClientConfig(url, o);
    if (schema !== "public") await createSchema(config, schema);
    const pool = new pg.Pool({ ...config, max: o.poolSize, statement_timeout: o.statementTimeoutMs || undefined });
    // A pooled connection that dies while idle (a server restart) is dropped by the pool;
    // without a listener its error would crash the process.
    pool.on("error", () => {});
    const client = new PgPrismaClient({ adapter: new PrismaPg(pool, { schema }) }) as unknown as PrismaClient;
    return new Db(postgres, client, client, { pool, config, schema, options: o });
  }

  /** Transactions this handle has committed (writes, including single-statement ones): lets tests count commits. */
  get commits(): number {
    return this.#commits;
  }
  #commits = 0;

  /** Runs `fn` in a transaction on the writer connection, retried when the database asks for it. */
  async write<T>(fn: (tx: Tx) => Promise<T>, options: { timeoutMs?: number } = {}): Promise<T> {
    const settings = { ...this.#tx, ...(options.timeoutMs ? { timeout: options.timeoutMs } : {}) };
    const result = await retryTransient(() => this.#writer.$transaction(fn, settings));
    this.#committed();
    return result;
  }

  /**
   * Runs the given queries in one transaction: cheaper than `write` when no statement
   * depends on another's result. Prisma sends a batch of one query without a transaction
   * (and so, on SQLite, without the adapter's lock, where it could land inside another
   * request's open transaction), so on SQLite a single query goes through `write` instead.
   */
  async writeBatch<const P extends Prisma.PrismaPromise<unknown>[]>(build: (db: PrismaClient | Tx) => [...P]): Promise<UnwrapTuple<P>> {
    // Building is free: a Prisma query runs only when awaited.
    if (build(this.#writer).length === 1) {
      // On PostgreSQL one statement is its own transaction on its own pooled connection.
      if (this.sql.name === "postgres") {
        const [result] = await retryTransient(async () => [await (build(this.#writer)[0] as P[number])]);
        this.#commits++;
        return [result] as UnwrapTuple<P>;
      }
      return this.write(async (tx) => [await (build(tx)[0] as P[number])] as UnwrapTuple<P>);
    }
    const results = await retryTransient(() => this.#writer.$transaction(build(this.#writer)));
    this.#committed();
    return results as UnwrapTuple<P>;
  }

  #committed(): void {
    this.#commits++;
    this.#checkpointer?.committed();
  }

  /**
   * SQLite on a file: has the operating system write out what an open transaction has put
   * in the WAL so far, on libuv's thread pool, so that its commit's own sync (on the event
   * loop: better-sqlite3 is synchronous) has only the rest to wait for. A createRuns of 500
   * large graphs writes about 40 MB; synced all at its commit, that held the loop ~80 ms on
   * a plain disk. (SQLite takes no locks on the WAL file itself, so opening and closing it
   * here releases none of SQLite's.) Nothing to do on PostgreSQL or with synchronous=NORMAL.
   */
  async syncWalSoFar(): Promise<void> {
    if (this.#walToSync === null) return;
    const file = await open(this.#walToSync, "r").catch(() => null); // no WAL yet: nothing to sync
    if (!file) return;
    try {
      await file.datasync();
    } finally {
      await file.close();
    }
  }

  /** SQLite on a file: the WAL's checkpointer (tests read its counts and run one on demand). */
  get checkpointer(): WalCheckpointer | null {
    return this.#checkpointer;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#checkpointer?.stop();
    await Promise.all([this.#writer.$disconnect(), this.read.$disconnect()]);
    await this.#pool?.end();
  }
}

/** The connection string without Prisma's `schema` parameter, and that schema (default public). */
export function postgresTarget(url: string): { connectionString: string; schema: string } {
  const schema = postgresSchema(url);
  if (schema === null) throw new Error("DATABASE_URL: schema must be a plain identifier (letters, digits, _; at most 48 characters)");
  const parsed = new URL(url);
  parsed.searchParams.delete("schema");
  return { connectionString: parsed.toString(), schema };
}

/** How Forge connects to PostgreSQL: the pool's settings, and those of its single connections (LISTEN, startup checks). */
export function postgresClientConfig(url: string, o: Pick<PostgresOptions, "connectTimeoutMs">): pg.ClientConfig {
  const { connectionString, schema } = postgresTarget(url);
  return {
    connectionString,
    connectionTimeoutMillis: o.connectTimeoutMs,
    // Unqualified names in Forge's SQL resolve in the chosen schema (a plain identifier,
    // so nothing in it needs escaping on the server's command line). JIT compilation is
    // off: Forge's statements are short, and JIT only starts up when the planner's cost
    // estimate is high (the claim's with capped lanes), where compiling took 96 ms of a
    // statement that runs in 2.
    options: `-c search_path=${schema} -c jit=off`,
    application_name: "forge",
  };
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

async function createSchema(config: pg.ClientConfig, schema: string): Promise<void> {
  const client = new pg.Client({ ...config, options: undefined });
  client.on("error", () => {});
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
  } catch (error) {
    // Another process created it at the same moment.
    if ((error as { code?: string }).code !== "23505") throw error;
  } finally {
    await client.end();
  }
}

/**
 * How long a statement waits for another process's write lock before failing. The wait
 * is synchronous (better-sqlite3 blocks its thread), so it stays short: two seconds is
 * far more than any of Forge's own transactions holds the lock.
 */
const BUSY_TIMEOUT_MS = 2_000;
/** PostgreSQL: how long a write transaction may stay open (a tick's commit takes milliseconds). */
const TX_TIMEOUT_MS = 60_000;
const RETRIES = 5;

/**
 * Transactions the database aborted only because of a concurrent one, and which succeed
 * when started over:
 * - SQLite: a deferred transaction that read before another process wrote cannot upgrade
 *   to a writer (SQLITE_BUSY_SNAPSHOT). A plain SQLITE_BUSY has already waited
 *   BUSY_TIMEOUT_MS and is not retried.
 * - PostgreSQL: a deadlock victim (40P01) or a serialization failure (40001).
 */
async function retryTransient<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (attempt >= RETRIES || !isTransient(error)) throw error;
    }
  }
}

/**
 * Retries `fn` while SQLite answers "database is locked" at once, for up to about five
 * seconds. For startup only (opening and migrating): when several processes start on a
 * new file together, SQLite may refuse a lock upgrade immediately, without waiting out the
 * busy timeout, because waiting could deadlock.
 */
export async function whileLocked<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (attempt >= 100 || !/SQLITE_BUSY|database is locked/.test(String(error))) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 30));
    }
  }
}

/** The driver's own error under a Prisma error (its SQLSTATE or SQLite code, its kind), if any. */
export function driverCause(error: unknown): DriverCause | undefined {
  return (error as { meta?: { driverAdapterError?: { cause?: DriverCause } } } | null)?.meta?.driverAdapterError?.cause;
}

interface DriverCause {
  originalCode?: string;
  originalMessage?: string;
  kind?: string;
  code?: string;
}

function isTransient(error: unknown): boolean {
  const code = driverCause(error)?.originalCode;
  if (code === "SQLITE_BUSY_SNAPSHOT" || code === "40P01" || code === "40001") return true;
  return /SQLITE_BUSY_SNAPSHOT|deadlock detected|could not serialize access/.test(String(error));
}

export function sqlitePath(url: string): string {
  if (!url.startsWith("file:")) throw new Error(`unsupported database URL (expected file:...): ${url}`);
  return url.slice("file:".length);
}

/** A unique constraint failed, whether the statement was a model query (P2002) or raw SQL (P2010). */
export function isUniqueViolation(error: unknown): boolean {
  if (!(error instanceof Prisma.PrismaClientKnownRequestError)) return false;
  if (error.code === "P2002") return true;
  return error.code === "P2010" && driverCause(error)?.kind === "UniqueConstraintViolation";
}

/** Prisma's codes for "could not reach or keep the connection", and the pool timing out. */
const UNAVAILABLE_PRISMA_CODES = new Set(["P1001", "P1002", "P1008", "P1017", "P2024"]);
/** P2028 covers every transaction API failure; only "could not start one" (no connection in time) means unavailable. */
const UNAVAILABLE_TX_START = /Unable to start a transaction/;
const UNAVAILABLE_DRIVER_KINDS = new Set(["DatabaseNotReachable", "ConnectionClosed", "SocketTimeout", "TooManyConnections"]);
/** PostgreSQL: admin shutdown, crash shutdown, cannot connect now, too many connections, and class 08 (connection exception). */
const UNAVAILABLE_SQLSTATE = /^(57P01|57P02|57P03|53300|08\w{3})$/;
const UNAVAILABLE_MESSAGE =
  /ECONNREFUSED|ECONNRESET|EPIPE|Connection terminated|connection error|not queryable|timeout exceeded when trying to connect|database system is (starting up|shutting down)|terminating connection|SQLITE_BUSY|database is locked/;

/**
 * The database could not serve the request right now (it is restarting, unreachable, out
 * of connections, or, on SQLite, locked by another process for longer than the busy
 * timeout). Retrying later may succeed; nothing about the request was wrong.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let e = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && (UNAVAILABLE_PRISMA_CODES.has(code) || UNAVAILABLE_SQLSTATE.test(code))) return true;
    if (code === "P2028" && UNAVAILABLE_TX_START.test(String((e as { message?: unknown }).message))) return true;
    const cause = driverCause(e);
    if (cause?.kind && UNAVAILABLE_DRIVER_KINDS.has(cause.kind)) return true;
    if (cause?.originalCode && UNAVAILABLE_SQLSTATE.test(cause.originalCode)) return true;
    if (UNAVAILABLE_MESSAGE.test(String((e as { message?: unknown }).message ?? e))) return true;
  }
  return false;
}
