import { execFileSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { describe, expect, it, onTestFinished } from "vitest";
import { systemClock } from "../src/clock.ts";
import { loadConfig } from "../src/config.ts";
import { openDatabase } from "../src/engine/setup.ts";
import { sqlitePath } from "../src/store/db.ts";
import { DatabaseUnusable } from "../src/store/preflight.ts";
import { createdSchemas, dialect, freshDbUrl, runInput, startForge, testDatabaseUrl } from "./support/forge.ts";
import { freePort, startPrivatePostgres } from "./support/private-postgres.ts";
import { type ForgeProcess, MAIN, startProcess } from "./support/processes.ts";
import { waitFor } from "./support/wait.ts";

/**
 * Startup on a database Forge cannot use (API.md, "Robustness rules", Startup): one line on
 * stderr naming DATABASE_URL and the problem, exit code 1, and nothing written to it. And
 * on a database that cannot be reached yet: tried again with backoff, each try logged,
 * until FORGE_DB_STARTUP_TIMEOUT_MS. Real `src/main.ts` processes, since startup is the subject.
 */
const COMMANDS = ["serve", "worker", "migrate"] as const;
const PASSWORD = "pw-must-not-show";

function start(command: string, databaseUrl: string, env: Record<string, string> = {}): ForgeProcess {
  return startProcess(MAIN, [command], { DATABASE_URL: databaseUrl, FORGE_PORT: "0", ...env });
}

/** Runs `command` and expects it to stop at startup: exit 1, exactly `line` on stderr and nothing else there. */
async function expectRefused(
  command: string,
  databaseUrl: string,
  line: string | RegExp,
  env: Record<string, string> = {},
): Promise<ForgeProcess> {
  const p = start(command, databaseUrl, env);
  // A process that started anyway would serve until killed: fail at a bound instead.
  const stillRunning = new Promise((resolve) => setTimeout(() => resolve("still running after 20 s"), 20_000).unref());
  expect(await Promise.race([p.exited, stillRunning])).toBe(1);
  if (typeof line === "string") expect(p.stderr()).toBe(`${line}\n`);
  else {
    expect(p.stderr().split("\n")).toHaveLength(2); // one line, then the final newline
    expect(p.stderr().trim()).toMatch(line);
  }
  // Refused at once: an unusable database is not tried again.
  expect(p.output()).not.toContain("trying again");
  return p;
}

/** Warnings a process logged for its startup tries. */
function startupTries(p: ForgeProcess): Array<{ attempt: number; retryInMs: number; error: string }> {
  return p
    .output()
    .split("\n")
    .filter((line) => line.includes('"database unreachable at startup; trying again"'))
    .map((line) => JSON.parse(line));
}

// ---------------------------------------------------------------------------------------
// SQLite files

/** A file's bytes and what lies beside it (a -wal, -shm or -journal file would show there). */
function snapshot(path: string): { bytes: Buffer; folder: string[] } {
  return { bytes: readFileSync(path), folder: readdirSync(dirname(path)).sort() };
}

function freshFile(name = "forge.db"): string {
  return join(mkdtempSync(join(tmpdir(), "forge-startup-")), name);
}

/** A real Forge database of a few hundred pages, closed (so without -wal and -shm). */
async function forgeDatabaseFile(): Promise<string> {
  const dbUrl = freshDbUrl();
  const forge = await startForge({ dbUrl, autoStop: false });
  for (let batch = 0; batch < 2; batch++) {
    await forge.app.forge.createRuns(Array.from({ length: 250 }, () => runInput({ params: { padding: "x".repeat(1000) } })));
  }
  await forge.stop();
  const path = sqlitePath(dbUrl);
  expect(readdirSync(dirname(path))).toEqual(["forge.db"]);
  return path;
}

function pageSize(path: string): number {
  const size = readFileSync(path).readUInt16BE(16);
  return size === 1 ? 65536 : size;
}

/** Another application's database: tables named like Forge's, no forge_migrations. */
function otherApplicationFile(journalMode: "DELETE" | "WAL"): string {
  const path = freshFile("other.db");
  const db = new Database(path);
  db.pragma(`journal_mode = ${journalMode}`);
  db.exec(`CREATE TABLE runs (id INTEGER PRIMARY KEY, name TEXT);
    CREATE TABLE steps (id INTEGER PRIMARY KEY, run_id INTEGER);
    CREATE TABLE users (id INTEGER PRIMARY KEY);
    INSERT INTO runs (name) VALUES ('nightly'), ('weekly');`);
  db.close();
  return path;
}

/**
 * Makes `path` read-only for this process, or returns null when nothing can. Root ignores
 * mode bits, so as root the file or folder is made immutable (chattr +i) instead.
 */
function makeReadOnly(path: string): (() => void) | null {
  if (process.getuid?.() !== 0) {
    const mode = statSync(path).mode;
    chmodSync(path, statSync(path).isDirectory() ? 0o555 : 0o444);
    return () => chmodSync(path, mode);
  }
  try {
    execFileSync("chattr", ["+i", path], { stdio: "pipe" });
  } catch {
    return null;
  }
  return () => execFileSync("chattr", ["-i", path], { stdio: "pipe" });
}

const NO_READ_ONLY_FOR_ROOT = "running as root, and chattr +i is unavailable here: nothing can make a file read-only for root";

describe.runIf(dialect === "sqlite")("startup on a SQLite file Forge cannot use", () => {
  it("a file that is not a database stops serve, worker and migrate with one line, and is left as it was", async () => {
    const path = freshFile("notes.db");
    writeFileSync(path, "meeting notes, not a database\n".repeat(200));
    const before = snapshot(path);
    for (const command of COMMANDS) {
      await expectRefused(command, `file:${path}`, `DATABASE_URL: file ${path} is not a SQLite database`);
    }
    expect(snapshot(path)).toEqual(before);
  });

  it("a path through a file (where a folder should be) stops startup with one line, not a stack", async () => {
    const file = freshFile("plain.txt");
    writeFileSync(file, "a file, not a folder\n");
    await expectRefused("migrate", `file:${file}/forge.db`, new RegExp(`^DATABASE_URL: file ${file}/forge.db: .*ENOTDIR`));
  });

  it("a Forge database with pages overwritten in the middle is reported corrupt, and left as it was (no -wal or -shm created)", async () => {
    const path = await forgeDatabaseFile();
    const page = pageSize(path);
    const pages = statSync(path).size / page;
    const bytes = readFileSync(path);
    bytes.fill(0xa5, Math.floor(pages / 2) * page, (Math.floor(pages / 2) + 3) * page);
    writeFileSync(path, bytes);
    const before = snapshot(path);
    const p = start("migrate", `file:${path}`);
    expect(await p.exited).toBe(1);
    expect(p.stderr()).toMatch(new RegExp(`^DATABASE_URL: file ${path} is corrupt \\([^\\n]+\\)\\n$`));
    expect(snapshot(path)).toEqual(before);
  });

  it("a truncated Forge database is reported corrupt, and left as it was", async () => {
    const path = await forgeDatabaseFile();
    truncateSync(path, Math.floor(statSync(path).size / pageSize(path) / 2) * pageSize(path));
    const before = snapshot(path);
    const p = start("worker", `file:${path}`);
    expect(await p.exited).toBe(1);
    expect(p.stderr()).toMatch(new RegExp(`^DATABASE_URL: file ${path} is corrupt \\([^\\n]+\\)\\n$`));
    expect(snapshot(path)).toEqual(before);
  });

  it("a read-only Forge database is refused before anything is written to it", async (ctx) => {
    const path = await forgeDatabaseFile();
    const writable = makeReadOnly(path);
    if (!writable) return ctx.skip(NO_READ_ONLY_FOR_ROOT);
    onTestFinished(writable);
    const before = snapshot(path);
    await expectRefused("serve", `file:${path}`, `DATABASE_URL: file ${path} is read-only (Forge must write to it)`);
    expect(snapshot(path)).toEqual(before);
  });

  it("a read-only folder is refused, for an existing database and for a new one", async (ctx) => {
    const path = await forgeDatabaseFile();
    const folder = dirname(path);
    const writable = makeReadOnly(folder);
    if (!writable) return ctx.skip(NO_READ_ONLY_FOR_ROOT);
    onTestFinished(writable);
    const before = snapshot(path);
    await expectRefused("migrate", `file:${path}`, `DATABASE_URL: folder ${folder} of file ${path} is read-only (Forge must write to it)`);
    expect(snapshot(path)).toEqual(before);
    const fresh = join(folder, "sub", "new.db");
    await expectRefused(
      "migrate",
      `file:${fresh}`,
      `DATABASE_URL: folder ${folder} for new file ${fresh} is read-only (Forge must write to it)`,
    );
  });

  for (const journalMode of ["DELETE", "WAL"] as const) {
    it(`another application's database with tables of the same names is refused and left as it was (journal_mode ${journalMode})`, async () => {
      const path = otherApplicationFile(journalMode);
      const before = snapshot(path);
      await expectRefused(
        "serve",
        `file:${path}`,
        `DATABASE_URL: file ${path} holds tables runs, steps that Forge did not create (no forge_migrations table): use an empty database or another file`,
      );
      expect(snapshot(path)).toEqual(before);
    });
  }

  it("a database left with an unfinished transaction (a hot rollback journal) is refused, not rolled back", async () => {
    const path = freshFile("crashed.db");
    const db = new Database(path);
    db.pragma("cache_size = 10"); // spill to the file mid-transaction, as a crash would leave it
    db.exec("CREATE TABLE notes (body TEXT); BEGIN");
    const insert = db.prepare("INSERT INTO notes VALUES (?)");
    for (let i = 0; i < 5000; i++) insert.run("x".repeat(200));
    // What a crash leaves: the file and its journal as they are now, mid-transaction.
    const crashed = freshFile("crashed.db");
    copyFileSync(path, crashed);
    copyFileSync(`${path}-journal`, `${crashed}-journal`);
    db.exec("ROLLBACK");
    db.close();
    const before = snapshot(crashed);
    const journal = readFileSync(`${crashed}-journal`);
    await expectRefused(
      "migrate",
      `file:${crashed}`,
      `DATABASE_URL: file ${crashed} has an unfinished transaction in ${crashed}-journal: open it once with the sqlite3 shell to roll it back`,
    );
    expect(snapshot(crashed)).toEqual(before);
    expect(readFileSync(`${crashed}-journal`)).toEqual(journal);
  });

  it("a Forge database closed cleanly is inspected without a trace, then opened and migrated", async () => {
    const path = await forgeDatabaseFile();
    const p = start("migrate", `file:${path}`);
    expect(await p.exited).toBe(0);
    expect(p.output()).toContain("migrations up to date");
    expect(readdirSync(dirname(path))).toEqual(["forge.db"]);
  });

  it("a process starts beside another that has the database open", async () => {
    const forge = await startForge();
    expect(existsSync(`${sqlitePath(forge.dbUrl)}-wal`)).toBe(true);
    const p = start("migrate", forge.dbUrl);
    expect(await p.exited).toBe(0);
  });

  it("a failure after the file was opened closes it (no connection left open)", async () => {
    const path = await forgeDatabaseFile();
    const raw = new Database(path);
    raw.exec("UPDATE forge_migrations SET checksum = 'changed' WHERE name = '0001_init.sql'");
    raw.close();
    const config = loadConfig({ DATABASE_URL: `file:${path}`, LOG_LEVEL: "silent" });
    await expect(openDatabase(config)).rejects.toThrow(
      new DatabaseUnusable("migration 0001_init.sql was applied with different contents; restore the file or the database"),
    );
    expect(openFilesUnder(dirname(path))).toEqual([]);
  });
});

/** Files under `folder` that this process holds open. */
function openFilesUnder(folder: string): string[] {
  return readdirSync("/proc/self/fd")
    .map((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return ""; // closed while listing (the listing's own descriptor)
      }
    })
    .filter((target) => target.startsWith(`${folder}/`));
}

// ---------------------------------------------------------------------------------------
// PostgreSQL

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>, url = testDatabaseUrl()): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A database of this test's own (forge_startup_*), dropped when the test finishes. */
async function createDatabase(purpose: string, setup: string[] = []): Promise<string> {
  const name = `forge_startup_${purpose}_${process.pid}`;
  await admin(async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await c.query(`CREATE DATABASE ${name}`);
    for (const statement of setup) await c.query(statement.replaceAll("$db", name));
  });
  onTestFinished(() => admin(async (c) => void (await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))));
  return name;
}

async function tablesNamed(url: string, table: string): Promise<string[]> {
  return admin(async (c) => {
    const { rows } = await c.query<{ schema: string }>(
      "SELECT n.nspname AS schema FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = $1",
      [table],
    );
    return rows.map((r) => r.schema);
  }, url);
}

/** Connections to `database` other than the asking one. */
async function connectionsTo(database: string): Promise<number> {
  return admin(async (c) => {
    const { rows } = await c.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
      [database],
    );
    return rows[0]?.n ?? -1;
  });
}

describe.runIf(dialect === "postgres")("startup on a PostgreSQL database Forge cannot use", () => {
  it("a URL asking for TLS from a server without it stops startup with one line, not a stack", async () => {
    const url = new URL(testDatabaseUrl());
    url.searchParams.set("sslmode", "verify-full"); // "require" makes pg print a deprecation warning of its own
    await expectRefused("migrate", url.toString(), /^DATABASE_URL: PostgreSQL database .*: .*SSL/);
  });

  it("an unknown database stops serve, worker and migrate with one line, without retrying", async () => {
    const database = `forge_startup_missing_${process.pid}`;
    for (const command of COMMANDS) {
      await expectRefused(
        command,
        withDatabase(testDatabaseUrl(), database),
        `DATABASE_URL: PostgreSQL database "${database}" does not exist`,
      );
    }
  });

  it("an unknown user is refused with one line that never shows the password", async () => {
    const url = new URL(testDatabaseUrl());
    url.username = "forge_startup_nobody";
    url.password = PASSWORD;
    const p = await expectRefused(
      "serve",
      url.toString(),
      'DATABASE_URL: PostgreSQL rejected user "forge_startup_nobody" (role "forge_startup_nobody" does not exist)',
    );
    expect(p.output()).not.toContain(PASSWORD);
  });

  it("a read-only database is refused, and neither Forge's schema nor forge_migrations is created in it", async () => {
    const database = await createDatabase("readonly", ["ALTER DATABASE $db SET default_transaction_read_only = on"]);
    const url = withDatabase(testDatabaseUrl(), database);
    const inSchema = new URL(url);
    inSchema.searchParams.set("schema", "forge");
    for (const target of [url, inSchema.toString()]) {
      await expectRefused(
        "migrate",
        target,
        `DATABASE_URL: PostgreSQL database "${database}" is read-only (default_transaction_read_only is on)`,
      );
    }
    expect(await tablesNamed(url, "forge_migrations")).toEqual([]);
    const schemas = await admin(async (c) => (await c.query("SELECT nspname FROM pg_namespace WHERE nspname = 'forge'")).rows, url);
    expect(schemas).toEqual([]);
  });

  it("a standby server is refused as read-only", async () => {
    const standby = await startPrivatePostgres({ standby: true });
    onTestFinished(() => standby.stop());
    await expectRefused(
      "serve",
      standby.url,
      'DATABASE_URL: PostgreSQL database "postgres" is read-only (the server is a standby in recovery)',
    );
  });

  it("another application's runs table in the schema is refused, and forge_migrations is not created", async () => {
    const schema = `forge_test_other_${process.pid}`;
    createdSchemas.push(schema); // dropped after the file (tests/support/setup.ts)
    await admin(async (c) => {
      await c.query(`CREATE SCHEMA ${schema}`);
      await c.query(`CREATE TABLE ${schema}.runs (id SERIAL PRIMARY KEY, name TEXT)`);
    });
    const url = new URL(testDatabaseUrl());
    url.searchParams.set("schema", schema);
    await expectRefused(
      "worker",
      url.toString(),
      `DATABASE_URL: PostgreSQL schema "${schema}" holds tables runs that Forge did not create (no forge_migrations table): use an empty database or another schema (?schema=name)`,
    );
    const tables = await admin(
      async (c) => (await c.query("SELECT table_name FROM information_schema.tables WHERE table_schema = $1", [schema])).rows,
    );
    expect(tables).toEqual([{ table_name: "runs" }]);
  });

  it("a failure after the database was opened, or while it was inspected, leaves no connection open", async () => {
    const database = await createDatabase("leak");
    const config = loadConfig({ DATABASE_URL: withDatabase(testDatabaseUrl(), database), LOG_LEVEL: "silent" });
    await (await openDatabase(config)).close();
    await admin(
      async (c) => void (await c.query("UPDATE forge_migrations SET checksum = 'changed' WHERE name = '0001_init.sql'")),
      config.databaseUrl,
    );
    await expect(openDatabase(config)).rejects.toThrow(/migration 0001_init\.sql was applied with different contents/);
    await waitFor(async () => (await connectionsTo(database)) === 0, "Forge's connections to close", 3_000);

    await admin(async (c) => void (await c.query(`ALTER DATABASE ${database} SET default_transaction_read_only = on`)));
    await expect(openDatabase(config)).rejects.toThrow(/is read-only/);
    await waitFor(async () => (await connectionsTo(database)) === 0, "the inspection's connection to close", 3_000);
  });
});

describe.runIf(dialect === "postgres")("startup on an unreachable PostgreSQL", () => {
  it("gives up after FORGE_DB_STARTUP_TIMEOUT_MS with one line, having logged each try, never the password", async () => {
    const url = `postgresql://forge:${PASSWORD}@127.0.0.1:${await freePort()}/forge`;
    const p = start("worker", url, { FORGE_DB_STARTUP_TIMEOUT_MS: "1500" });
    expect(await p.exited).toBe(1);
    expect(p.stderr()).toMatch(
      /^DATABASE_URL: PostgreSQL database "forge" at 127\.0\.0\.1:\d+ is unreachable \(connect ECONNREFUSED [^)]+\); gave up after \d+ tries in 1\.5 s \(FORGE_DB_STARTUP_TIMEOUT_MS\)\n$/,
    );
    const tries = startupTries(p);
    expect(tries.length).toBeGreaterThanOrEqual(2);
    expect(tries.map((t) => t.attempt)).toEqual(tries.map((_, i) => i + 1));
    for (const t of tries) expect(t.retryInMs).toBeGreaterThan(0);
    expect(p.output()).not.toContain(PASSWORD);
  });

  it("a worker started while PostgreSQL is down keeps trying, then joins once it is back and ticks runs", async () => {
    const server = await startPrivatePostgres();
    onTestFinished(() => server.stop());
    server.halt();
    // The private server trusts every connection, so the password is ignored: it is there to be hidden.
    const url = new URL(server.url);
    url.password = PASSWORD;
    const worker = start("worker", url.toString(), { FORGE_TICK_INTERVAL_MS: "100" });
    await waitFor(() => startupTries(worker).length >= 3, "three startup tries while the server is down", 20_000);
    expect(worker.child.exitCode).toBe(null);

    await server.resume();
    await waitFor(() => worker.output().includes("forge worker running"), "the worker to join", 30_000);
    expect(worker.output()).toContain("migrations applied");
    const forge = await startForge({ dbUrl: server.url, clock: systemClock });
    const runs = await forge.app.forge.createRuns(Array.from({ length: 20 }, () => runInput()));
    const db = forge.app.forge.db.read;
    await waitFor(
      async () => (await db.run.count({ where: { id: { in: runs.map((r) => r.id) }, status: "SUCCEEDED" } })) === runs.length,
      "the worker process to tick every run",
      30_000,
    );
    expect((await db.worker.findMany({ where: { stoppedAt: null } })).map((w) => w.id)).toEqual([
      expect.stringContaining(`:${worker.pid}:`),
    ]);
    worker.child.kill("SIGTERM");
    expect(await worker.exited).toBe(0);
    expect(worker.output()).not.toContain(PASSWORD);
  }, 90_000);

  it("a SIGTERM while it waits for PostgreSQL stops a worker and a server at once, with one line", async () => {
    const server = await startPrivatePostgres();
    onTestFinished(() => server.stop());
    server.halt();
    for (const command of ["worker", "serve"] as const) {
      const p = start(command, server.url, { FORGE_PORT: "0" });
      await waitFor(() => startupTries(p).length >= 1, `${command}: a startup try while the server is down`, 20_000);
      p.child.kill("SIGTERM");
      // Far sooner than FORGE_DB_STARTUP_TIMEOUT_MS (60 s by default): it stops waiting.
      expect(await p.exited).toBe(1);
      expect(p.stderr().trim()).toMatch(
        /^DATABASE_URL: PostgreSQL database .* is unreachable .*; stopped waiting for it on a shutdown signal$/,
      );
    }
  }, 60_000);
});
