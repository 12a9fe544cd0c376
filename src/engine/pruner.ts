/*
 * Background retention (API.md, "Retention"): a worker process prunes finished runs by the
 * policies' retentionDays (FORGE_RETENTION_DAYS for job types without one) every
 * pruneIntervalMs, in the lifecycle system's small batches. On a shared database exactly one
 * process prunes at a time: the pass runs under the "pruner" system lease, renewed before
 * every batch, and a process that cannot take it leaves the pass to its holder.
 */
import { randomUUID } from "node:crypto";
import type { PolicySet } from "../domain/policy.ts";
import type { PruneCounts } from "../store/sql/prune.ts";
import { releaseSystemLease, takeSystemLease } from "../store/sql/system-lease.ts";
import type { AuditTrail } from "./audit.ts";
import { type Lifecycle, TERMINAL_STATUSES } from "./lifecycle.ts";
import type { EngineResources } from "./resources.ts";

const LEASE = "pruner";
/** The pruner's lease outlives a crashed pruner by this long; renewed before every batch (a few ms each). */
const LEASE_MS = 60_000;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface PrunerDeps {
  resources: EngineResources;
  lifecycle: Lifecycle;
  policies: PolicySet;
  audit: AuditTrail;
}

/** What one pass did: null when another process held the pruner's lease. */
export type PassResult = PruneCounts | null;

export class Pruner {
  readonly owner = `pruner:${randomUUID()}`;
  #timer: NodeJS.Timeout | null = null;
  #pass: Promise<PassResult> | null = null;
  #stopping = false;

  constructor(private readonly d: PrunerDeps) {}

  /** Prunes now, then every pruneIntervalMs, until stop(). Nothing to do (and no timer) when every scope keeps runs forever. */
  start(): void {
    if (this.d.policies.retention(this.d.resources.tunables.retentionDays).length === 0) return;
    const every = this.d.resources.tunables.pruneIntervalMs;
    const go = () => {
      this.#pass = this.runOnce().catch((error: unknown) => {
        this.d.resources.log.warn({ err: error }, "retention pass failed; trying again at the next interval");
        return null;
      });
      void this.#pass.finally(() => {
        this.#pass = null;
        if (!this.#stopping) {
          this.#timer = setTimeout(go, every);
          this.#timer.unref();
        }
      });
    };
    go();
  }

  /** Lets a batch in progress finish, and prunes no more. */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#pass;
  }

  /** One pass over every retention scope, under the pruner's lease. */
  async runOnce(): Promise<PassResult> {
    const { db, clock, log, tunables } = this.d.resources;
    const hold = () => {
      const now = clock.now();
      return takeSystemLease(db, LEASE, this.owner, now, new Date(now.getTime() + LEASE_MS));
    };
    if (!(await hold())) return null;
    const total: PruneCounts = { runs: 0, events: 0, artifacts: 0 };
    try {
      for (const scope of this.d.policies.retention(tunables.retentionDays)) {
        if (this.#stopping) break;
        const finishedBefore = new Date(clock.now().getTime() - scope.days * DAY_MS);
        const pruned = await this.d.lifecycle.pruneScope(
          { finishedBefore, statuses: TERMINAL_STATUSES, jobType: scope.jobType, exceptJobTypes: scope.exceptJobTypes },
          async () => !this.#stopping && (await hold()),
        );
        total.runs += pruned.runs;
        total.events += pruned.events;
        total.artifacts += pruned.artifacts;
      }
    } finally {
      await releaseSystemLease(db, LEASE, this.owner, clock.now()).catch(() => {});
    }
    if (total.runs > 0) {
      log.info({ pruned: total }, "retention pass pruned finished runs");
      this.d.audit.record({ actor: "forge:retention", action: "pruneRuns", target: null, detail: { ...total }, at: clock.now() });
    }
    return total;
  }
}
