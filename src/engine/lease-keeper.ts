import { pauseOf } from "../domain/waiting.ts";
import type { ClaimedRun } from "../store/sql/claim.ts";
import { extendLeases } from "../store/sql/extend.ts";
import { listPauses } from "../store/sql/pauses.ts";
import type { EngineResources } from "./resources.ts";

/** One batch's leases being kept: stop() ends the renewals. */
export interface KeptLeases {
  stop(): void;
}

/**
 * The lease keeper: while a tick's steps run, it renews the leases of the runs not committed
 * yet every third of the lease's length (at least every `leaseCheckMaxMs`), so a step may
 * outlast FORGE_LEASE_MS. A run whose renewal finds its lease gone (cancelled, or taken over
 * after it expired) is reported through `lost`, which stops its attempts. A run whose lane or
 * job type was paused since its claim is reported through `held`: it starts no new steps.
 */
export class LeaseKeeper {
  readonly #r: EngineResources;

  constructor(resources: EngineResources) {
    this.#r = resources;
  }

  /** How often renewals run. */
  get intervalMs(): number {
    const { leaseMs, leaseCheckMaxMs } = this.#r.tunables;
    return Math.max(10, Math.min(Math.floor(leaseMs / 3), leaseCheckMaxMs));
  }

  /**
   * Renews, on a timer until stopped, the leases `owner` holds on the claims at the indexes
   * `pending()` gives; calls `lost(index, reason)` for each whose lease is gone.
   */
  keep(
    owner: string,
    claims: readonly ClaimedRun[],
    pending: () => number[],
    lost: (index: number, reason: Error) => void,
    held: (index: number) => void = () => {},
  ): KeptLeases {
    const every = this.intervalMs;
    let timer: NodeJS.Timeout | null = null;
    let stopped = false;
    const renew = async () => {
      const expires = new Date(this.#r.clock.now().getTime() + this.#r.tunables.leaseMs);
      try {
        const indexes = pending();
        const kept = await extendLeases(
          this.#r.db,
          owner,
          indexes.map((i) => claims[i] as ClaimedRun),
          expires,
        );
        for (const i of indexes) {
          const { runId } = claims[i] as ClaimedRun;
          if (!kept.has(runId)) lost(i, new Error(`run "${runId}" was cancelled or its lease was taken over`));
        }
        // A pause made since the claim (API.md, "Pauses"): those runs start no new steps.
        const pauses = indexes.length > 0 ? await listPauses(this.#r.db) : [];
        if (pauses.length > 0) {
          for (const i of indexes) if (pauseOf((claims[i] as ClaimedRun).run, pauses)) held(i);
        }
      } catch (error) {
        this.#r.log.warn({ err: error }, "could not renew leases; trying again");
      }
      if (!stopped) schedule();
    };
    const schedule = () => {
      timer = setTimeout(() => void renew(), every);
      timer.unref();
    };
    schedule();
    return {
      stop: () => {
        stopped = true;
        if (timer) clearTimeout(timer);
      },
    };
  }
}
