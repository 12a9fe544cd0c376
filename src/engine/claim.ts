import { type ClaimedRun, claimDueRuns, countLeasedByOthers } from "../store/sql/claim.ts";
import type { EngineResources } from "./resources.ts";

/** What one claim took: the runs, in pick order, and (when counted) the due runs others hold. */
export interface Claim {
  claims: ClaimedRun[];
  skippedLeased: number;
}

/**
 * The claim system: takes the leases of up to `limit` due runs under one owner, in one
 * statement (store/sql/claim.ts), in pick order whatever their lanes.
 */
export class ClaimSystem {
  readonly #r: EngineResources;

  constructor(resources: EngineResources) {
    this.#r = resources;
  }

  /** `countSkipped`: one more query, worth it for an admin's tickOnce, not for the worker loop. */
  async claim(limit: number, owner: string, countSkipped: boolean): Promise<Claim> {
    const now = this.#r.clock.now();
    const claims = await claimDueRuns(this.#r.db, { owner, now, leaseMs: this.#r.tunables.leaseMs, limit });
    const lastClaimed = claims.length === limit ? (claims[claims.length - 1]?.runId ?? null) : null;
    const skippedLeased = countSkipped ? await countLeasedByOthers(this.#r.db, owner, now, lastClaimed) : 0;
    return { claims, skippedLeased };
  }
}
