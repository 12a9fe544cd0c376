/*
 * Extending leases: the statement that renews the leases of a tick still at work, and
 * tells it which runs it no longer holds. One file, as the only write that keeps a lease
 * without changing the run.
 */
import type { Db } from "../db.ts";
import type { Claimed } from "../records.ts";

/**
 * Pushes the expiry of leases this owner still holds to `expires` (a tick whose steps run
 * long). Returns the runs whose lease was renewed; a run missing from it was cancelled or
 * taken over, and nothing the tick does for it will commit.
 */
export async function extendLeases(db: Db, owner: string, claims: Claimed[], expires: Date): Promise<Set<string>> {
  if (claims.length === 0) return new Set();
  const { rows, text, int } = db.sql;
  const [renewed] = await db.writeBatch((w) => [
    w.$queryRaw<Array<{ id: string }>>`
      UPDATE runs SET lease_expires_at = ${expires}
      FROM ${rows(claims)}
      WHERE runs.id = ${text("runId")} AND runs.lease_owner = ${owner} AND runs.lease_epoch = ${int("epoch")}
      RETURNING runs.id`,
  ]);
  return new Set(renewed.map((r) => r.id));
}
