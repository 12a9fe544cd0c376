import { accessSync, closeSync, constants, existsSync, openSync, readSync, statSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { type DbOptions, driverCause, isDatabaseUnavailable, Prisma, postgresClientConfig, postgresTarget, sqlitePath } from "./db.ts";
import { forgeTableNames, MigrationMismatch } from "./migrate.ts";
import { isPostgresUrl, POSTGRES_DEFAULTS } from "./url.ts";

/**
 * What Forge checks about its database before it writes anything to it, and how a problem
 * met while opening it at startup is classified. This is the only store code that inspects
 * a database before use; engine/setup.ts runs it before opening and migrating.
 *
 * Startup problems are of two kinds:
 * - unusable: Forge cannot use this database and waiting will not change that (not a
 *   database, corrupt, read-only, another application's tables, an unknown PostgreSQL
 *   database or user). Startup stops at once with one line, and nothing has been written.
 * - unreachable: the database may serve again soon (connection refused, the server
 *   starting up or shutting down, a SQLite file locked by another process). Startup tries
 *   again until FORGE_DB_STARTUP_TIMEOUT_MS.
 */

/** A startup problem reported as one line naming DATABASE_URL (no stack, no password). */
export class DatabaseStartupError extends Error {
  constructor(problem: string) {
    super(`DATABASE_URL: ${problem}`);
    this.name = new.target.name;
  }
}

/** The database cannot be used as it is; retrying would not help. */
export class DatabaseUnusable extends DatabaseStartupError {}

/** The database stayed unreachable for all of FORGE_DB_STARTUP_TIMEOUT_MS. */
export class DatabaseUnreachable extends DatabaseStartupError {}

export type StartupProblem = { kind: "unusable"; error: DatabaseUnusable } | { kind: "unreachable"; reason: string };

/**
 * Inspects the database `options.url` names, reading only, and throws DatabaseUnusable
 * when Forge cannot use it. A database that does not exist yet (a new SQLite file, a new
 * PostgreSQL schema) passes: Forge creates it. Connection failures are thrown as they
 * are, for classifyStartupError to sort out.
 */
export async function inspectDatabase(options: DbOptions): Promise<void> {
  if (isPostgresUrl(options.url)) await inspectPostgres(options.url, { ...POSTGRES_DEFAULTS, ...options.postgres });
  else inspectSqlite(sqlitePath(options.url));
}

/** Sorts an error thrown while opening, inspecting or migrating the database; null when it is none of Forge's startup problems (a bug). */
export function classifyStartupError(error: unknown, url: string): StartupProblem | null {
  if (error instanceof DatabaseUnusable) return { kind: "unusable", error };
  if (error instanceof MigrationMismatch) return unusable(error.message);
  if (isDatabaseUnavailable(error) || NETWORK_ERROR_CODES.has(codeOf(error) ?? "")) {
    return { kind: "unreachable", reason: reasonOf(error, url) };
  }
  const postgresProblem = isPostgresUrl(url) ? postgresProblemFor(error, url) : null;
  if (postgresProblem) return unusable(postgresProblem);
  // Any other refusal from the database itself, e.g. a SQLite file that became unreadable
  // after it was inspected: still one line, and not retried.
  if (isDriverError(error)) return unusable(`${describeDatabase(url)}: ${reasonOf(error, url)}`);
  // The file system refused the path (a file where a folder should be: ENOTDIR, ENAMETOOLONG,
  // ELOOP...), or the server and the URL disagree about TLS (sslmode): one line too.
  if (isSystemError(error) || /\bSSL\b/.test(String((error as { message?: unknown }).message))) {
    return unusable(`${describeDatabase(url)}: ${reasonOf(error, url)}`);
  }
  return null;
}

/** An error Node raised for a system call (it has a `code` like ENOTDIR and a `syscall`): the environment's, not a bug. */
function isSystemError(error: unknown): boolean {
  const e = error as { code?: unknown; syscall?: unknown } | null;
  return typeof e?.code === "string" && /^E[A-Z]+$/.test(e.code) && typeof e.syscall === "string";
}

/** The database as an operator would name it, without the password. */
export function describeDatabase(url: string): string {
  if (!isPostgresUrl(url)) return `file ${sqlitePath(url)}`;
  const { host, database } = postgresParts(url);
  return `PostgreSQL database ${database ? `"${database}"` : "(the user's default)"} at ${host}`;
}

/**
 * A line of text about the database with the URL's password taken out. Neither driver puts
 * the password in its messages; this is a second guard, as the logger's redact list is.
 */
function withoutPassword(text: string, url: string): string {
  if (!isPostgresUrl(url) || !URL.canParse(url)) return text;
  const password = new URL(url).password;
  if (password === "") return text;
  let safe = text;
  for (const form of new Set([password, safeDecode(password)])) safe = safe.replaceAll(form, "***");
  return safe;
}

function unusable(problem: string): StartupProblem {
  return { kind: "unusable", error: new DatabaseUnusable(problem) };
}

// ---------------------------------------------------------------------------------------
// SQLite

/** The first 16 bytes of every SQLite database file. */
const SQLITE_HEADER = Buffer.from("SQLite format 3\0", "latin1");
/** How long the inspection waits for another process's lock, as Forge's own connections do. */
const SQLITE_BUSY_TIMEOUT_MS = 2_000;

/**
 * Checks a SQLite file without writing to it, cheapest first: that it is a SQLite file
 * (its header), that Forge may write to it and beside it (SQLite puts its -wal and -shm
 * files in the same folder), that it holds no other application's tables, and that
 * `PRAGMA quick_check` finds it intact. quick_check reads every page once (about a second
 * per GB with the file in the page cache), so a damaged file stops startup rather than the
 * first request that reaches the damage.
 */
function inspectSqlite(path: string): void {
  const file = `file ${path}`;
  const stat = statSync(path, { throwIfNoEntry: false });
  if (stat === undefined) {
    // A new database: Forge creates it, and its folder when missing, so the nearest
    // existing folder must take new files.
    let folder = dirname(path);
    while (!existsSync(folder) && dirname(folder) !== folder) folder = dirname(folder);
    if (!writable(folder)) throw new DatabaseUnusable(`folder ${folder} for new ${file} is read-only (Forge must write to it)`);
    return;
  }
  if (stat.isDirectory()) throw new DatabaseUnusable(`${file} is a directory, not a SQLite database`);
  if (!stat.isFile()) throw new DatabaseUnusable(`${file} is not a SQLite database`);
  const header = readHeader(path, file);
  // SQLite takes an empty file for a new, empty database.
  if (stat.size > 0 && !header.subarray(0, SQLITE_HEADER.length).equals(SQLITE_HEADER)) {
    throw new DatabaseUnusable(`${file} is not a SQLite database`);
  }
  for (const name of [path, `${path}-wal`, `${path}-shm`]) {
    if (existsSync(name) && !writable(name)) throw new DatabaseUnusable(`file ${name} is read-only (Forge must write to it)`);
  }
  if (!writable(dirname(path))) throw new DatabaseUnusable(`folder ${dirname(path)} of ${file} is read-only (Forge must write to it)`);
  if (stat.size === 0) return;

  // Bytes 18 and 19 are 2 in a WAL-mode file. A read-only connection to a WAL-mode file
  // creates its -wal and -shm files and, being read-only, cannot remove them. When there
  // is no -wal (no connection is open, nothing is left to recover), a read-write
  // connection in query_only mode reads the same and, closing last, removes what it
  // created; with nothing written, closing leaves the file as it was. Otherwise (a -wal
  // exists, or a rollback-journal file) a read-only connection creates nothing and can
  // never write: it does not roll back a hot journal nor checkpoint a leftover WAL.
  const walMode = header[18] === 2 && header[19] === 2;
  const readOnly = !(walMode && !existsSync(`${path}-wal`));
  const db = new Database(path, { readonly: readOnly, fileMustExist: true, timeout: SQLITE_BUSY_TIMEOUT_MS });
  try {
    if (!readOnly) db.pragma("query_only = ON");
    const tables = db
      .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
      .all()
      .map((t) => t.name.toLowerCase()); // SQLite's names are case-insensitive
    const foreign = foreignTables(tables, forgeTableNames("sqlite"));
    if (foreign) throw new DatabaseUnusable(`${file} ${foreign}: use an empty database or another file`);
    const problems = db.prepare<[], { quick_check: string }>("PRAGMA quick_check").all();
    const first = problems[0]?.quick_check ?? "no answer";
    if (first !== "ok") throw new DatabaseUnusable(`${file} is corrupt (quick_check: ${oneLine(first)})`);
  } catch (error) {
    if (error instanceof DatabaseUnusable) throw error;
    const code = codeOf(error) ?? "";
    if (code === "SQLITE_NOTADB") throw new DatabaseUnusable(`${file} is not a SQLite database`);
    if (code.startsWith("SQLITE_CORRUPT")) throw new DatabaseUnusable(`${file} is corrupt (${oneLine(String((error as Error).message))})`);
    // A rollback journal left by a crash: only a writer may roll it back, and Forge does
    // not write to a file it has not recognized.
    if (code === "SQLITE_READONLY_ROLLBACK") {
      throw new DatabaseUnusable(
        `${file} has an unfinished transaction in ${path}-journal: open it once with the sqlite3 shell to roll it back`,
      );
    }
    throw error;
  } finally {
    db.close();
  }
}

function readHeader(path: string, file: string): Buffer {
  const header = Buffer.alloc(100);
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EACCES") throw new DatabaseUnusable(`${file} cannot be read (permission denied)`);
    throw error;
  }
  try {
    readSync(fd, header, 0, header.length, 0);
  } finally {
    closeSync(fd);
  }
  return header;
}

/**
 * Whether this process may write the path: access(2) answers for this process's user, so
 * for root it still says no on a read-only mount or an immutable file (chattr +i), where
 * mode bits alone would not stop root.
 */
function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------
// PostgreSQL

/**
 * Connects once, without touching the pool, and checks that the session may write (the
 * server is no standby and the database is not read-only by default) and that the schema
 * holds no other application's tables. Creates nothing: Db.open creates the schema after.
 */
async function inspectPostgres(url: string, options: { connectTimeoutMs: number }): Promise<void> {
  const { schema } = postgresTarget(url);
  const { database } = postgresParts(url);
  const name = database ? `PostgreSQL database "${database}"` : "PostgreSQL database";
  const client = new pg.Client(postgresClientConfig(url, options));
  // A connection that breaks while idle emits "error"; without a listener it would crash the process.
  client.on("error", () => {});
  let connected = false;
  try {
    await client.connect();
    connected = true;
    const state = await client.query<{ read_only: boolean; standby: boolean }>(
      "SELECT current_setting('transaction_read_only') = 'on' AS read_only, pg_is_in_recovery() AS standby",
    );
    if (state.rows[0]?.standby) throw new DatabaseUnusable(`${name} is read-only (the server is a standby in recovery)`);
    if (state.rows[0]?.read_only) throw new DatabaseUnusable(`${name} is read-only (default_transaction_read_only is on)`);
    const found = await client.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')`,
      [schema],
    );
    // Unlike SQLite's, PostgreSQL's names are case-sensitive: "Runs" is not runs.
    const foreign = foreignTables(
      found.rows.map((r) => r.name),
      forgeTableNames("postgres"),
    );
    if (foreign) {
      throw new DatabaseUnusable(`PostgreSQL schema "${schema}" ${foreign}: use an empty database or another schema (?schema=name)`);
    }
  } finally {
    if (connected) await client.end().catch(() => {});
  }
}

/** What PostgreSQL's refusal means for startup, or null when it is not one of these. */
function postgresProblemFor(error: unknown, url: string): string | null {
  const code = codeOf(error);
  const reason = reasonOf(error, url);
  const { database, user } = postgresParts(url);
  switch (code) {
    case "3D000": // invalid_catalog_name
      return database ? `PostgreSQL database "${database}" does not exist` : `PostgreSQL: ${reason}`;
    case "28000": // invalid_authorization_specification: no such role, or no pg_hba.conf entry
    case "28P01": // invalid_password
      return `PostgreSQL rejected ${user ? `user "${user}"` : "the connection's user"} (${reason})`;
    case "42501": // insufficient_privilege
      return `PostgreSQL ${user ? `user "${user}"` : "user"} lacks a privilege Forge needs (${reason})`;
    case "25006": // read_only_sql_transaction: became read-only after the inspection
      return `${database ? `PostgreSQL database "${database}"` : "PostgreSQL database"} is read-only (${reason})`;
    default:
      return null;
  }
}

function postgresParts(url: string): { host: string; database: string | null; user: string | null } {
  const { connectionString } = postgresTarget(url);
  const parsed = new URL(connectionString);
  const database = safeDecode(parsed.pathname.replace(/^\//, ""));
  return {
    host: parsed.host || "the default host",
    database: database === "" ? null : database,
    user: parsed.username === "" ? null : safeDecode(parsed.username),
  };
}

// ---------------------------------------------------------------------------------------
// Both

/**
 * "holds tables runs, steps that Forge did not create ..." when some of Forge's table names
 * are taken and there is no `forge_migrations` (which Forge creates before any other
 * table), else null.
 */
function foreignTables(existing: string[], forgeTables: string[]): string | null {
  if (existing.includes("forge_migrations")) return null;
  const taken = forgeTables.filter((t) => existing.includes(t));
  if (taken.length === 0) return null;
  return `holds tables ${taken.join(", ")} that Forge did not create (no forge_migrations table)`;
}

/**
 * Failures of the connection itself that the drivers report by code only (pg's
 * AggregateError for a host with several addresses has an empty message). A name that
 * does not resolve counts too: in a starting cluster, the database's DNS name may appear
 * only once its server is up.
 */
const NETWORK_ERROR_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN"]);

function codeOf(error: unknown): string | undefined {
  const cause = driverCause(error);
  const code = cause?.originalCode ?? (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** The driver's own words for an error, on one line. */
function reasonOf(error: unknown, url: string): string {
  const cause = driverCause(error);
  const e = error as { message?: unknown; code?: unknown } | null;
  const text =
    cause?.originalMessage || (typeof e?.message === "string" && e.message) || (typeof e?.code === "string" && e.code) || String(error);
  return withoutPassword(oneLine(text), url);
}

function isDriverError(error: unknown): boolean {
  return (
    error instanceof pg.DatabaseError ||
    error instanceof Database.SqliteError ||
    error instanceof Prisma.PrismaClientKnownRequestError ||
    error instanceof Prisma.PrismaClientUnknownRequestError ||
    error instanceof Prisma.PrismaClientInitializationError
  );
}

/** Startup errors are one line: SQLite's quick_check and Prisma's messages span several. */
function oneLine(text: string): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
