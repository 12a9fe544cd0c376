import Database from "better-sqlite3";
import { describe, expect, it, onTestFinished } from "vitest";
import { WalCheckpointer } from "../src/store/checkpointer.ts";
import { Db, sqlitePath } from "../src/store/db.ts";
import { migrate } from "../src/store/migrate.ts";
import { claimDueRuns } from "../src/store/sql/claim.ts";
import { CreateRun } from "./support/documents.ts";
import { dialect, freshDbUrl, runInput, startForge } from "./support/forge.ts";
import { signal, waitFor } from "./support/wait.ts";

describe("store transactions", () => {
  it("a claim made while another transaction is open neither sees its writes nor rolls back with it", async () => {
    const forge = await startForge();
    const id = (await forge.gql(CreateRun, { input: runInput() })).data?.createRun.id as string;
    const db = forge.app.forge.db;
    const gate = signal();
    const written = signal();
    const failing = db
      .write(async (tx) => {
        await tx.$executeRaw`UPDATE runs SET priority = 999 WHERE id = ${id}`;
        written.fire();
        await gate.fired;
        throw new Error("roll this back");
      })
      .catch((error: Error) => error.message);
    await written.fired;
    const claim = claimDueRuns(db, { owner: "claimer", now: forge.clock.now(), leaseMs: 30_000, limit: 10 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    gate.fire();
    expect(await failing).toBe("roll this back");
    let [claimed] = await claim;
    if (dialect === "postgres") {
      // The open transaction held the row locked, and the claim skips locked rows rather
      // than wait for them: it took nothing, and the next claim takes the run as committed.
      expect(claimed).toBeUndefined();
      [claimed] = await claimDueRuns(db, { owner: "claimer", now: forge.clock.now(), leaseMs: 30_000, limit: 10 });
    }
    expect(claimed?.run.priority).toBe(0);
    const row = await db.read.run.findUniqueOrThrow({ where: { id } });
    expect([row.priority, row.leaseOwner, row.leaseEpoch]).toEqual([0, "claimer", 1]);
  });

  it.runIf(dialect === "postgres")("a transaction chosen as a deadlock victim is started over and commits", async () => {
    const db = await Db.open({ url: freshDbUrl() });
    onTestFinished(() => db.close());
    await migrate(db);
    const at = new Date();
    await db.writeBatch((w) => [
      w.worker.create({ data: { id: "a", startedAt: at, heartbeatAt: at } }),
      w.worker.create({ data: { id: "b", startedAt: at, heartbeatAt: at } }),
    ]);
    let attempts = 0;
    // Two transactions lock a and b in opposite orders: PostgreSQL aborts one of them.
    const lockBoth = (first: string, second: string) =>
      db.write(async (tx) => {
        attempts++;
        await tx.$executeRaw`UPDATE workers SET ticks = ticks + 1 WHERE id = ${first}`;
        await new Promise((resolve) => setTimeout(resolve, 200));
        await tx.$executeRaw`UPDATE workers SET ticks = ticks + 1 WHERE id = ${second}`;
      });
    await Promise.all([lockBoth("a", "b"), lockBoth("b", "a")]);
    expect(attempts).toBe(3);
    expect((await db.read.worker.findMany({ orderBy: { id: "asc" } })).map((w) => w.ticks)).toEqual([2, 2]);
  });

  it.runIf(dialect === "sqlite")("a transaction whose snapshot another connection made stale is started over and commits", async () => {
    const url = freshDbUrl();
    const mine = await Db.open({ url });
    const other = await Db.open({ url });
    onTestFinished(() => Promise.all([mine.close(), other.close()]).then(() => {}));
    await migrate(mine);
    let attempts = 0;
    await mine.write(async (tx) => {
      attempts++;
      await tx.$queryRaw`SELECT count(*) FROM workers`;
      // Another connection (as another process would) commits between our read and our write.
      if (attempts === 1)
        await other.write((o) => o.$executeRaw`INSERT INTO workers (id, started_at, heartbeat_at) VALUES ('other', 0, 0)`);
      await tx.$executeRaw`INSERT INTO workers (id, started_at, heartbeat_at) VALUES (${`mine-${attempts}`}, 0, 0)`;
    });
    expect(attempts).toBe(2);
    expect((await mine.read.worker.findMany({ orderBy: { id: "asc" } })).map((w) => w.id)).toEqual(["mine-2", "other"]);
  });
});

describe.runIf(dialect === "sqlite")("WAL checkpoints", () => {
  it("are not run inside the writer's commits but by the checkpointer's thread, soon after them", async () => {
    const db = await Db.open({ url: freshDbUrl() });
    onTestFinished(() => db.close());
    await migrate(db);
    const [setting] = await db.write((tx) => tx.$queryRawUnsafe<Array<{ wal_autocheckpoint: number }>>("PRAGMA wal_autocheckpoint"));
    expect(Number(setting?.wal_autocheckpoint)).toBe(0);
    const checkpointer = db.checkpointer as WalCheckpointer;
    const before = checkpointer.count;
    // About 2,000 pages: SQLite's own rule (1,000) would have checkpointed in one of these commits.
    const pad = "x".repeat(4000);
    for (let i = 0; i < 20; i++) {
      await db.write(async (tx) => {
        for (let j = 0; j < 100; j++) {
          await tx.$executeRaw`INSERT INTO workers (id, started_at, heartbeat_at) VALUES (${`w${i}-${j}-${pad}`}, 0, 0)`;
        }
      });
    }
    await waitFor(
      () => checkpointer.count > before && checkpointer.last?.checkpointed === checkpointer.last?.log,
      "a checkpoint of every frame",
    );
    expect(await db.read.worker.count()).toBe(2000);
  });

  it("keep the WAL bounded under writes that never pause (a checkpoint alone never rewinds it)", async () => {
    const path = sqlitePath(freshDbUrl());
    const writer = new Database(path);
    writer.pragma("journal_mode = WAL");
    writer.pragma("wal_autocheckpoint = 0");
    writer.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    let rewinds = 0;
    const checkpointer = new WalCheckpointer(path, {
      rewind: () => {
        rewinds++;
        writer.pragma("wal_checkpoint(PASSIVE)");
      },
      onFailure: () => {},
      rewindPastFrames: 200,
    });
    onTestFinished(async () => {
      await checkpointer.stop();
      writer.close();
    });
    await checkpointer.checkpoint(); // the thread is up
    const insert = writer.prepare("INSERT INTO t (v) VALUES (?)");
    // At least 6,000 commits, and on until the thread has finished six checkpoints among
    // them (on a loaded machine the first may take longer than 6,000 commits do).
    const before = checkpointer.count;
    let commits = 0;
    while ((commits < 6000 || checkpointer.count - before < 6) && commits < 200_000) {
      insert.run("x".repeat(2000));
      commits++;
      checkpointer.committed();
      await new Promise((resolve) => setImmediate(resolve));
    }
    const { log } = await checkpointer.checkpoint();
    // Each commit wrote two frames: a WAL never started over would hold all of them. (How far
    // it has grown again since its last rewind depends on how loaded the machine is: under
    // CI load 64,535 commits left 67,486 frames, about half of them.)
    expect(rewinds).toBeGreaterThan(0);
    expect(log).toBeLessThan(2 * commits);
  });

  it("a checkpointer whose thread cannot open the file reports it, so the writer can take checkpoints back", async () => {
    let report: (error: unknown) => void = () => {};
    const failed = new Promise<unknown>((resolve) => {
      report = resolve;
    });
    const checkpointer = new WalCheckpointer("/nonexistent/forge.db", { rewind: () => {}, onFailure: report });
    expect(String(await failed)).toMatch(/directory does not exist|unable to open/);
    await checkpointer.stop();
  });
});
