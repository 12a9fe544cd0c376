import { describe, expect, it, onTestFinished } from "vitest";
import { Db } from "../src/store/db.ts";
import { migrate } from "../src/store/migrate.ts";
import { pickIds } from "../src/store/sql/claim.ts";
import { dialect, freshDbUrl } from "./support/forge.ts";

/**
 * The claim's pick (src/store/sql/claim.ts) reads only what it needs whatever the size of the
 * queue: these check the plans of the very statement the scheduler runs, over a table of
 * 40,000 due runs, half of them pending in capped lanes and ahead of the others in the pick
 * order (the case where reading every due run in order would walk through all of them),
 * with statistics.
 */
async function queueOf40k(): Promise<Db> {
  const db = await Db.open({ url: freshDbUrl() });
  onTestFinished(() => db.close());
  await migrate(db);
  const lane = "CASE WHEN i % 2 = 0 THEN 'capped' || (i % 6) ELSE 'default' END";
  const cap = "CASE WHEN i % 2 = 0 THEN 2 ELSE NULL END";
  const priority = "CASE WHEN i % 2 = 0 THEN 1000 ELSE i % 7 - 3 END";
  await db.write((tx) =>
    dialect === "sqlite"
      ? tx.$executeRawUnsafe(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40000)
          INSERT INTO runs (id, mode, job_type, lane, requested_by, priority, status, graph, params, input_hash, created_at, updated_at, wake_at, lane_cap)
          SELECT 'r' || i, 'LIVE', 'j', ${lane}, 't', ${priority}, 'PENDING', '{}', '{}', 'h', 1000 + i, 1000, 1000 + i, ${cap} FROM n`)
      : tx.$executeRawUnsafe(`INSERT INTO runs (id, mode, job_type, lane, requested_by, priority, status, graph, params, input_hash, created_at, updated_at, wake_at, lane_cap)
          SELECT 'r' || i, 'LIVE', 'j', ${lane}, 't', ${priority}, 'PENDING', '{}', '{}', 'h',
            now() - i * interval '1 ms', now(), now() - i * interval '1 ms', ${cap} FROM generate_series(1, 40000) AS i`),
  );
  await db.read.$executeRawUnsafe(dialect === "sqlite" ? "ANALYZE" : "ANALYZE runs");
  return db;
}

async function planOf(db: Db, capped: boolean): Promise<string> {
  const sql = pickIds(db, { owner: "o", now: new Date(Date.now() + 60_000), leaseMs: 1000, limit: 100 }, capped);
  if (db.dialect === "sqlite") {
    const rows = await db.read.$queryRawUnsafe<Array<{ detail: string }>>(`EXPLAIN QUERY PLAN ${sql.sql}`, ...sql.values);
    return rows.map((r) => r.detail).join("\n");
  }
  const rows = await db.read.$queryRawUnsafe<Array<{ "QUERY PLAN": string }>>(`EXPLAIN ${sql.text}`, ...sql.values);
  return rows.map((r) => r["QUERY PLAN"]).join("\n");
}

describe("the claim's pick", () => {
  it("without capped lanes, reads runs_open_due_idx in pick order and stops at the limit (no sort, no scan of the table)", async () => {
    const db = await queueOf40k();
    const plan = await planOf(db, false);
    if (dialect === "sqlite") {
      expect(plan).toMatch(/SCAN runs USING INDEX runs_open_due_idx/);
      expect(plan).not.toMatch(/TEMP B-TREE/);
    } else {
      expect(plan).toMatch(/Index Scan using runs_open_due_idx/);
      // The pauses table, a handful of rows, is read once (a hashed subplan); the runs table never in full.
      expect(plan).not.toMatch(/Sort|Seq Scan on runs/);
    }
  });

  it("with capped lanes, walks the lanes on runs_capped_pending_idx and reads no index in full", async () => {
    const db = await queueOf40k();
    const plan = await planOf(db, true);
    if (dialect === "sqlite") {
      expect(plan).toMatch(/SEARCH r USING INDEX runs_capped_pending_idx \(lane>\?\)/);
      expect(plan).toMatch(/SEARCH x USING INDEX runs_capped_pending_idx \(lane=\?\)/);
      expect(plan).toMatch(/SCAN runs USING INDEX runs_open_due_idx/);
      // Every read of the runs table goes through an index; none walks the pending runs by status.
      expect(plan).not.toMatch(/^SCAN (runs|r|x|o|c)$/m);
      expect(plan).not.toMatch(/runs_status_created_at_id_idx/);
    } else {
      expect(plan).toMatch(/runs_capped_pending_idx/);
      expect(plan).toMatch(/runs_open_due_idx/);
      expect(plan).not.toMatch(/Seq Scan on runs|runs_lane_created_at_id_idx/);
      // The lanes' loads are counted once per lane, not once per candidate.
      expect(plan).toMatch(/CTE loads/);
    }
  });
});
