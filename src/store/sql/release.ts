/*
 * Releasing leases: the statement that gives runs back without committing anything for
 * them. One file, as the lease's one way back that is not a commit.
 */
import type { Db } from "../db.ts";
import type { Claimed } from "../records.ts";

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
