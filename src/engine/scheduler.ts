import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { Clock } from "../clock.ts";
import type { Db } from "../store/db.ts";
import { type ClaimedRun, claimDueRuns, commitChanges, countLeasedByOthers, extendLeases, releaseLeases } from "../store/leases.ts";
import type { EventFeed } from "./event-feed.ts";
import type { StepRegistry } from "./steps/registry.ts";
import { type AdvancedRun, advanceRun, DEFAULT_ARTIFACT_MAX_BYTES, settleWithLimit } from "./tick.ts";

/** Runs of one batch advanced at once: a slow step in one run does not hold up the others. */
export const RUN_CONCURRENCY = 16;
/** The longest a batch goes without renewing its leases (and learning of cancellations made elsewhere). */
export const LEASE_CHECK_MAX_MS = 1000;

/** What one tick did (API.md, TickResult). */
export interface TickResult {
  ticked: number;
  succeeded: number;
  failed: number;
  /** Counted only when asked for (tickOnce from the API); the worker loop does not need it. */
  skippedLeased: number;
  runIds: string[];
}

export interface SchedulerOptions {
  db: Db;
  clock: Clock;
  registry: StepRegistry;
  feed: EventFeed;
  log: Logger;
  leaseMs: number;
  /** Step attempts per run per tick. 10,000 exceeds any graph the default policy allows,
   * so a noop graph always finishes in one tick; the bound only stops a runaway graph from
   * holding its lease forever. */
  stepBudget?: number;
  /** FORGE_ARTIFACT_MAX_BYTES. */
  artifactMaxBytes?: number;
}

/**
 * Picks runs that have work to do and advances them: claim a batch under one lease owner
 * in one statement, advance each run in memory, then commit all their changes in one
 * transaction. Committing runs together is what makes throughput independent of the cost
 * of a single commit (an fsync on SQLite with synchronous=FULL).
 */
export class Scheduler {
  readonly #o: Required<SchedulerOptions>;
  /** The runs this process is advancing right now, each with the controller that stops its attempts. */
  readonly #inFlight = new Map<string, AbortController>();

  constructor(options: SchedulerOptions) {
    this.#o = { stepBudget: 10_000, artifactMaxBytes: DEFAULT_ARTIFACT_MAX_BYTES, ...options };
  }

  /** Stops the attempts this process has in flight for a run (it was cancelled). False when it has none. */
  abortRun(runId: string, reason: Error): boolean {
    const controller = this.#inFlight.get(runId);
    controller?.abort(reason);
    return controller !== undefined;
  }

  /** Advances at most `limit` runs, highest priority first, then oldest. */
  async tickOnce(
    limit: number,
    owner = `ticker:${randomUUID()}`,
    options: { signal?: AbortSignal; countSkipped?: boolean } = {},
  ): Promise<TickResult> {
    const signal = options.signal ?? new AbortController().signal;
    const batch = await this.claim(limit, owner, options.countSkipped ?? true);
    let advanced: AdvancedRun[];
    try {
      advanced = await batch.advance(signal);
    } catch (error) {
      // Nothing was written; give the runs back now rather than when the leases expire.
      await batch.commit([]);
      throw error;
    }
    return batch.commit(advanced);
  }

  /** First phase of a tick: take the leases. Exposed so tests can interleave tickers. */
  async claim(limit: number, owner: string, countSkipped = true): Promise<TickBatch> {
    const now = this.#o.clock.now();
    const claims = await claimDueRuns(this.#o.db, { owner, now, leaseMs: this.#o.leaseMs, limit });
    const lastClaimed = claims.length === limit ? (claims[claims.length - 1]?.runId ?? null) : null;
    // One more query per tick: worth it for an admin's tickOnce, not for the worker loop.
    const skippedLeased = countSkipped ? await countLeasedByOthers(this.#o.db, owner, now, lastClaimed) : 0;
    return new TickBatch(this.#o, owner, claims, skippedLeased, this.#inFlight);
  }
}

export class TickBatch {
  constructor(
    private readonly o: Required<SchedulerOptions>,
    readonly owner: string,
    private readonly claimed: ClaimedRun[],
    readonly skippedLeased: number,
    private readonly inFlight: Map<string, AbortController> = new Map(),
  ) {}

  /** The runs this batch holds leases on, in pick order. */
  get claims(): Array<{ runId: string; epoch: number }> {
    return this.claimed.map(({ runId, epoch }) => ({ runId, epoch }));
  }

  /**
   * Second phase: advance every claimed run in memory (several at once). Writes nothing but
   * lease renewals: while the steps run, the leases are renewed every third of their length
   * (at least once a second), so a step may outlast FORGE_LEASE_MS. A run whose renewal
   * fails was cancelled or taken over: its attempts are aborted through their AbortSignal.
   */
  async advance(signal: AbortSignal): Promise<AdvancedRun[]> {
    const controllers = this.claimed.map(({ runId }) => {
      const controller = new AbortController();
      this.inFlight.set(runId, controller);
      return controller;
    });
    const stopAll = () => {
      for (const controller of controllers) controller.abort(signal.reason);
    };
    if (signal.aborted) stopAll();
    signal.addEventListener("abort", stopAll, { once: true });
    const keeper = this.#keepLeases(controllers);
    try {
      const results = await settleWithLimit(
        this.claimed.map((claim, i) => ({ claim, signal: (controllers[i] as AbortController).signal })),
        RUN_CONCURRENCY,
        ({ claim, signal }) =>
          advanceRun(claim.run, claim.steps, {
            clock: this.o.clock,
            registry: this.o.registry,
            owner: this.owner,
            epoch: claim.epoch,
            stepBudget: this.o.stepBudget,
            artifactMaxBytes: this.o.artifactMaxBytes,
            signal,
          }),
      );
      const failed = results.find((r) => r.status === "rejected");
      if (failed) throw failed.reason;
      return results.map((r) => (r as PromiseFulfilledResult<AdvancedRun>).value);
    } finally {
      keeper.stop();
      signal.removeEventListener("abort", stopAll);
      this.claimed.forEach(({ runId }, i) => {
        if (this.inFlight.get(runId) === controllers[i]) this.inFlight.delete(runId);
      });
    }
  }

  /** Renews this batch's leases on a timer until stopped; aborts the runs whose lease is gone. */
  #keepLeases(controllers: AbortController[]): { stop(): void } {
    const every = Math.max(10, Math.min(Math.floor(this.o.leaseMs / 3), LEASE_CHECK_MAX_MS));
    let timer: NodeJS.Timeout | null = null;
    let stopped = false;
    const renew = async () => {
      const expires = new Date(this.o.clock.now().getTime() + this.o.leaseMs);
      try {
        const kept = await extendLeases(this.o.db, this.owner, this.claims, expires);
        this.claimed.forEach(({ runId }, i) => {
          if (!kept.has(runId)) controllers[i]?.abort(new Error(`run "${runId}" was cancelled or its lease was taken over`));
        });
      } catch (error) {
        this.o.log.warn({ err: error }, "could not renew leases; trying again");
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

  /** Last phase: commit every change, fenced by its lease, then wake event readers. */
  async commit(advanced: AdvancedRun[]): Promise<TickResult> {
    const changes = advanced.map((a) => a.change);
    let committed = new Set<string>();
    try {
      if (changes.length > 0) committed = await commitChanges(this.o.db, changes);
    } catch (error) {
      // One bad run must not hold back the others: commit them one by one.
      this.o.log.warn({ err: error, runs: changes.length }, "batch commit failed; committing runs one at a time");
      committed = new Set();
      for (const change of changes) {
        try {
          for (const id of await commitChanges(this.o.db, [change])) committed.add(id);
        } catch (runError) {
          this.o.log.error({ err: runError, runId: change.runId }, "could not commit tick for run");
        }
      }
    }
    await releaseLeases(
      this.o.db,
      this.owner,
      this.claimed.filter((c) => !committed.has(c.runId)),
    );
    if (committed.size > 0) this.o.feed.notify();

    const result: TickResult = { ticked: 0, succeeded: 0, failed: 0, skippedLeased: this.skippedLeased, runIds: [] };
    for (const { change, outcome } of advanced) {
      if (!committed.has(change.runId)) continue;
      result.ticked++;
      result.runIds.push(change.runId);
      if (outcome === "succeeded") result.succeeded++;
      if (outcome === "failed") result.failed++;
    }
    return result;
  }
}
