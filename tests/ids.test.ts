import { describe, expect, it, onTestFinished } from "vitest";
import { Db } from "../src/store/db.ts";
import { migrate, migrationFiles } from "../src/store/migrate.ts";
import { AllEventsSubscription, RunArtifacts } from "./support/documents.ts";
import { dialect, freshDbUrl, runInput, startForge } from "./support/forge.ts";
import { subscribe, wsClient } from "./support/ws.ts";

/** No id runs out (API.md, "Robustness rules"): global ids are 64-bit on both databases, and ID strings at the API. */
const PAST_32_BITS = 2 ** 32 + 5;

/** Makes the next event and artifact ids start past 2^32, as a long-lived database would have them. */
async function skipIdsPast32Bits(db: Db): Promise<void> {
  await db.write(async (tx) => {
    if (db.dialect === "sqlite") {
      // AUTOINCREMENT continues from sqlite_sequence, which has a row per table once it was used.
      for (const table of ["events", "artifacts"]) {
        await tx.$executeRawUnsafe(`INSERT OR REPLACE INTO sqlite_sequence (name, seq) VALUES ('${table}', ${PAST_32_BITS})`);
      }
    } else {
      for (const table of ["events", "artifacts"]) {
        await tx.$executeRawUnsafe(`SELECT setval(pg_get_serial_sequence('${table}', 'id'), ${PAST_32_BITS})`);
      }
    }
  });
}

describe("64-bit ids", () => {
  it("event and artifact ids past 2^32 are stored, served as ID strings, and resume a subscription", async () => {
    const forge = await startForge();
    await skipIdsPast32Bits(forge.app.forge.db);
    const run = await forge.app.forge.createRun(
      runInput({ graph: { steps: { notes: { type: "artifact", params: { name: "n.txt", content: "hi" } } } } }),
    );
    await forge.app.forge.tickOnce(10);
    const events = await forge.app.forge.runEvents(run.id, 0, 100);
    expect(events[0]?.id).toBe(PAST_32_BITS + 1);
    const served = await forge.gql(`query($id: ID!) { run(id: $id) { events { id } } }`, { id: run.id });
    expect(served.data.run.events.map((e: { id: string }) => e.id)).toEqual(events.map((e) => String(e.id)));
    const artifacts = (await forge.gql(RunArtifacts, { id: run.id })).data?.run?.artifacts;
    expect(artifacts?.map((a) => a.id)).toEqual([String(PAST_32_BITS + 1)]);

    const url = await forge.app.start();
    const sub = subscribe(wsClient(url), AllEventsSubscription, { afterId: String(PAST_32_BITS + 2) });
    await expect.poll(() => sub.items.map((e) => e.events.id)).toEqual(events.slice(2).map((e) => String(e.id)));
    sub.close();
  });

  it.runIf(dialect === "postgres")(
    "a database created with 32-bit ids is migrated to 64-bit identity columns, keeping its events and continuing their ids",
    async () => {
      const db = await Db.open({ url: freshDbUrl() });
      onTestFinished(() => db.close());
      const files = migrationFiles(db.dialect);
      const before = files.findIndex((f) => f.name.startsWith("0005_"));
      await migrate(db, files.slice(0, before));
      const types = async () =>
        db.read.$queryRawUnsafe<Array<{ table_name: string; data_type: string; is_identity: string }>>(
          `SELECT table_name, data_type, is_identity FROM information_schema.columns
           WHERE table_schema = current_schema() AND column_name = 'id' AND table_name IN ('events', 'artifacts') ORDER BY table_name`,
        );
      expect((await types()).map((c) => c.data_type)).toEqual(["integer", "integer"]);
      await db.write(async (tx) => {
        await tx.$executeRawUnsafe(`INSERT INTO runs (id, mode, job_type, lane, requested_by, priority, status, graph, params, input_hash,
            created_at, updated_at) VALUES ('old', 'LIVE', 'j', 'default', 't', 0, 'PENDING', '{}', '{}', 'h', now(), now())`);
        for (const seq of [1, 2, 3]) {
          await tx.$executeRawUnsafe(`INSERT INTO events (run_id, seq, type, created_at) VALUES ('old', ${seq}, 'run_created', now())`);
        }
      });
      expect((await migrate(db)).applied).toEqual(files.slice(before).map((f) => f.name));
      expect(await types()).toEqual([
        { table_name: "artifacts", data_type: "bigint", is_identity: "YES" },
        { table_name: "events", data_type: "bigint", is_identity: "YES" },
      ]);
      await db.write((tx) => tx.$executeRawUnsafe(`INSERT INTO events (run_id, seq, type, created_at) VALUES ('old', 4, 'x', now())`));
      const ids = (await db.read.event.findMany({ orderBy: { id: "asc" } })).map((e) => [e.seq, Number(e.id)]);
      expect(ids).toEqual([
        [1, 1],
        [2, 2],
        [3, 3],
        [4, 4],
      ]);
    },
  );
});
