/*
 * System leases: work only one process may do at a time (the pruner), held like a run's
 * lease: taken when free or expired by one conditional write, renewed by its holder, and
 * lost to nobody while it is renewed in time.
 */
import type { Db } from "../db.ts";

/**
 * Takes (or renews, for its holder) the lease `name` until `until`. True when `owner` holds
 * it now. One statement: two processes asking at once cannot both get it.
 */
export async function takeSystemLease(db: Db, name: string, owner: string, now: Date, until: Date): Promise<boolean> {
  const rows = await db.writeBatch((w) => [
    w.$queryRaw<Array<{ owner: string }>>`
      INSERT INTO system_leases (name, owner, expires_at) VALUES (${name}, ${owner}, ${until})
      ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
      WHERE system_leases.owner = excluded.owner OR system_leases.expires_at <= ${now}
      RETURNING owner`,
  ]);
  return rows[0].length === 1 && rows[0][0]?.owner === owner;
}

/** Gives the lease back (its holder only), so another process need not wait for it to expire. */
export async function releaseSystemLease(db: Db, name: string, owner: string, now: Date): Promise<void> {
  await db.writeBatch((w) => [w.$executeRaw`UPDATE system_leases SET expires_at = ${now} WHERE name = ${name} AND owner = ${owner}`]);
}
