import type { Db } from "./db.ts";
import type { RunRecord, StepRecord } from "./records.ts";

/**
 * Leases and the writes made under them.
 *
 * A lease is (owner, epoch, expiresAt) on the run row. Claiming is one conditional
 * update: free or expired -> mine, epoch + 1. Every write a ticker makes is conditional
 * on owner and epoch (and on the run's seq being what the ticker read), so a ticker whose
 * lease expired and changed hands matches no row and commits nothing for that run.
 */
export interface Claimed {
  runId: string;
  epoch: number;
}

/** A claimed run as it stands right after the claim (the lease is already on it), with its steps. */
export interface ClaimedRun extends Claimed {
  run: RunRecord;
  steps: StepRecord[];
}

/** Gives up leases this owner still holds on the given runs (after a tick that could not commit them). */
export async function releaseLeases(db: Db, owner: string, claims: Claimed[]): Promise<void> {
  if (claims.length === 0) return;
  await db.writeBatch((w) =>
    claims.map(
      (c) =>
        w.$executeRaw`UPDATE runs SET lease_owner = NULL, lease_expires_at = NULL
          WHERE id = ${c.runId} AND lease_owner = ${owner} AND lease_epoch = ${c.epoch}`,
    ),
  );
}

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
