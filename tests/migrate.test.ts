import { describe, expect, it, onTestFinished } from "vitest";
import { Db, sqlitePath } from "../src/store/db.ts";
import { migrate, migrationFiles } from "../src/store/migrate.ts";
import { dialect, freshDbUrl } from "./support/forge.ts";

async function openFresh(): Promise<Db> {
  const db = await Db.open({ url: freshDbUrl() });
  onTestFinished(() => db.close());
  return db;
}

describe("migrations", () => {
  it("apply once, are recorded, and are a no-op the second time", async () => {
    const db = await openFresh();
    const names = migrationFiles(dialect).map((f) => f.name);
    expect(await migrate(db)).toEqual({ applied: names, alreadyApplied: [] });
    expect(await migrate(db)).toEqual({ applied: [], alreadyApplied: names });
    const rows = await db.read.$queryRawUnsafe<Array<{ name: string }>>("SELECT name FROM forge_migrations ORDER BY name");
    expect(rows.map((r) => r.name)).toEqual(names);
  });

  it.runIf(dialect === "postgres")("apply exactly once when several processes start at once", async () => {
    const url = freshDbUrl();
    // Separate handles with their own pools: to PostgreSQL, separate processes.
    const dbs = await Promise.all(Array.from({ length: 4 }, () => Db.open({ url })));
    onTestFinished(() => Promise.all(dbs.map((db) => db.close())).then(() => {}));
    const reports = await Promise.all(dbs.map((db) => migrate(db)));
    const names = migrationFiles(dialect).map((f) => f.name);
    expect(reports.flatMap((r) => r.applied).sort()).toEqual(names);
    for (const r of reports) expect([...r.applied, ...r.alreadyApplied].sort()).toEqual(names);
    const rows = await dbs[0]?.read.$queryRawUnsafe<Array<{ name: string }>>("SELECT name FROM forge_migrations ORDER BY name");
    expect(rows?.map((r) => r.name)).toEqual(names);
  });

  it("refuse to run over a database migrated with different file contents", async () => {
    const db = await openFresh();
    await migrate(db);
    await db.write((tx) => tx.$executeRawUnsafe("UPDATE forge_migrations SET checksum = 'tampered'"));
    await expect(migrate(db)).rejects.toThrow(/0001_init\.sql was applied with different contents/);
  });

  it.runIf(dialect === "sqlite")("put the database in WAL mode with the chosen synchronous level", async () => {
    const url = freshDbUrl();
    const db = await Db.open({ url, synchronous: "FULL" });
    onTestFinished(() => db.close());
    const [mode] = await db.read.$queryRawUnsafe<Array<{ journal_mode: string }>>("PRAGMA journal_mode");
    const [sync] = await db.read.$queryRawUnsafe<Array<{ synchronous: number }>>("PRAGMA synchronous");
    expect(mode?.journal_mode).toBe("wal");
    expect(Number(sync?.synchronous)).toBe(2); // FULL
    expect(sqlitePath(url)).toMatch(/forge\.db$/);
  });

  it("create every table and column of the Prisma model (each model round-trips through the client)", async () => {
    const db = await openFresh();
    await migrate(db);
    const at = new Date("2026-01-02T03:04:05.678Z");
    await db.writeBatch((w) => [
      w.run.create({
        data: {
          id: "r",
          mode: "LIVE",
          jobType: "j",
          lane: "l",
          requestedBy: "me",
          priority: 1,
          status: "PENDING",
          graph: "{}",
          params: "{}",
          idempotencyKey: "k",
          inputHash: "h",
          createdAt: at,
          updatedAt: at,
          startedAt: at,
          finishedAt: at,
          seq: 1,
          leaseOwner: "o",
          leaseEpoch: 3,
          leaseExpiresAt: at,
          wakeAt: at,
          policy: "{}",
          laneCap: 4,
          commitFailures: 2,
        },
      }),
      w.step.create({
        data: {
          runId: "r",
          id: "s",
          position: 0,
          type: "noop",
          deps: "[]",
          status: "PENDING",
          attempts: 1,
          startedAt: at,
          finishedAt: at,
          output: "null",
          error: "e",
        },
      }),
      w.event.create({ data: { runId: "r", seq: 1, type: "run_created", stepId: "s", data: "{}", createdAt: at } }),
      w.worker.create({ data: { id: "w", startedAt: at, heartbeatAt: at, stoppedAt: at, ticks: 2, lastTickAt: at } }),
      w.artifact.create({
        data: { runId: "r", stepId: "s", name: "a", contentType: "text/plain", size: 1, sha256: "x", content: "c", createdAt: at },
      }),
    ]);
    expect(await db.read.run.findUniqueOrThrow({ where: { id: "r" } })).toMatchObject({
      leaseEpoch: 3,
      wakeAt: at,
      createdAt: at,
      laneCap: 4,
      commitFailures: 2,
    });
    expect(await db.read.step.findFirstOrThrow()).toMatchObject({ attempts: 1, finishedAt: at, error: "e" });
    expect(await db.read.event.findFirstOrThrow()).toMatchObject({ id: 1n, stepId: "s", createdAt: at });
    expect(await db.read.worker.findFirstOrThrow()).toMatchObject({ ticks: 2, lastTickAt: at });
    expect(await db.read.artifact.findFirstOrThrow()).toMatchObject({ id: 1n, name: "a", size: 1, createdAt: at });
  });

  it.runIf(dialect === "postgres")("open pooled connections with the configured statement timeout, in the URL's schema", async () => {
    const url = freshDbUrl();
    const db = await Db.open({ url, postgres: { statementTimeoutMs: 1234 } });
    onTestFinished(() => db.close());
    const [row] = await db.read.$queryRawUnsafe<Array<{ timeout: string; schema: string }>>(
      "SELECT current_setting('statement_timeout') AS timeout, current_schema() AS schema",
    );
    expect(row).toEqual({ timeout: "1234ms", schema: new URL(url).searchParams.get("schema") });
    await expect(db.read.$queryRawUnsafe("SELECT pg_sleep(2)")).rejects.toThrow(/statement timeout/);
  });

  it.runIf(dialect === "sqlite")(
    "the dashboard's listing and the queue depth use their indexes (the claim's: tests/claim.test.ts)",
    async () => {
      const db = await openFresh();
      await migrate(db);
      const plan = async (sql: string) =>
        (await db.read.$queryRawUnsafe<Array<{ detail: string }>>(`EXPLAIN QUERY PLAN ${sql}`)).map((r) => r.detail).join(" | ");
      expect(await plan("SELECT count(*), min(wake_at) FROM runs WHERE wake_at <= 5")).toMatch(/runs_wake_at_idx/);
      expect(await plan("SELECT * FROM runs ORDER BY created_at DESC, id DESC LIMIT 50")).toMatch(/USING INDEX runs_created_at_id_idx/);
      expect(await plan("SELECT * FROM runs WHERE status = 'PENDING' ORDER BY created_at DESC, id DESC LIMIT 50")).toMatch(
        /USING INDEX runs_status_created_at_id_idx/,
      );
      expect(await plan("SELECT * FROM events WHERE run_id = 'r' AND seq > 3 ORDER BY seq LIMIT 100")).toMatch(/events_run_id_seq_key/);
    },
  );

  it("a migration that fails leaves nothing of itself behind", async () => {
    const db = await openFresh();
    await migrate(db);
    // Simulate a broken half of a migration: the same statements run in one transaction.
    await expect(
      db.write(async (tx) => {
        await tx.$executeRawUnsafe("CREATE TABLE half_done (x INTEGER)");
        await tx.$executeRawUnsafe("CREATE TABLE runs (x INTEGER)");
      }),
    ).rejects.toThrow();
    const tables = await db.read.$queryRawUnsafe<Array<{ name: string }>>(
      dialect === "sqlite"
        ? "SELECT name FROM sqlite_master WHERE name = 'half_done'"
        : "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'half_done'",
    );
    expect(tables).toEqual([]);
  });
});
