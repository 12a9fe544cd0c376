import { planGiveUp } from "../domain/give-up.ts";
import { sanitizeText } from "../domain/json.ts";
import { isDatabaseUnavailable } from "../store/db.ts";
import type { ClaimedRun } from "../store/sql/claim.ts";
import { commitChanges, commitEachAlone } from "../store/sql/commit-changes.ts";
import { releaseLeases } from "../store/sql/release.ts";
import type { EngineResources } from "./resources.ts";
import type { AdvancedRun } from "./tick.ts";

/**
 * The commit pipeline of a tick: how the changes of the runs a tick advanced reach the
 * database, and what happens to a run whose changes the database refuses.
 *
 * The fast path commits every run's change in one transaction of a few set-based
 * statements. If that transaction fails for a reason other than the database being
 * unreachable, the failure belongs to some run, but which one is unknown: so those runs
 * are committed by halves (each refused half halved again) and any run whose changes were
 * refused before (its row counts the refusals) alone, on savepoints of a single second
 * transaction. The healthy ones land
 * with that one extra commit; the refused ones have their refusals counted, and a run
 * refused `commitBudget` times in a row is FAILED with `data.reason` instead of running its
 * steps again forever. A run whose advance itself failed (a bug caught by the status
 * machine, say) is counted the same way. Runs refused before go straight to the second
 * transaction, so one poison run never drags the runs of later ticks off the fast path.
 *
 * After the commit, every lease not committed is given back, and event readers are woken.
 */

/** What one tick did (API.md, TickResult). */
export interface TickResult {
  ticked: number;
  succeeded: number;
  failed: number;
  /** Counted only when asked for (tickOnce from the API); the worker loop does not need it. */
  skippedLeased: number;
  runIds: string[];
}

export interface TickItem {
  claim: ClaimedRun;
  /** The run's change, when its advance finished. */
  advanced?: AdvancedRun;
  /** Why its advance failed, when it did (never an attempt's failure: those are part of the change). */
  error?: unknown;
}

export interface CommitOutcome {
  committed: Set<string>;
  /** Runs whose changes were refused: counted, and their leases already given back. */
  refused: Set<string>;
  /** Runs failed for good because their changes kept being refused. */
  gaveUp: Set<string>;
}

export class CommitPipeline {
  readonly #r: EngineResources;

  constructor(resources: EngineResources) {
    this.#r = resources;
  }

  /**
   * Commits what the items' runs came to, gives back every lease `owner` holds on them that
   * was not committed, wakes event readers, and counts. If nothing could be committed (the
   * database is unreachable, say), the leases go back at once rather than wait to expire,
   * and the error is thrown.
   */
  async commit(owner: string, items: TickItem[], skippedLeased: number): Promise<TickResult> {
    const { db, feed, metrics } = this.#r;
    let outcome: CommitOutcome;
    try {
      outcome = await this.#write(
        owner,
        items.filter((item) => item.advanced !== undefined || item.error !== undefined),
      );
    } catch (error) {
      metrics.commitFailed();
      await releaseLeases(
        db,
        owner,
        items.map(({ claim }) => claim),
      ).catch(() => {});
      throw error;
    }
    const { committed, refused, gaveUp } = outcome;
    const done = (runId: string) => committed.has(runId) || gaveUp.has(runId);
    await releaseLeases(
      db,
      owner,
      items.flatMap(({ claim }) => (done(claim.runId) || refused.has(claim.runId) ? [] : [claim])),
    );
    if (committed.size + gaveUp.size > 0) feed.notify();

    const result: TickResult = { ticked: 0, succeeded: 0, failed: 0, skippedLeased, runIds: [] };
    for (const { claim, advanced } of items) {
      if (!done(claim.runId)) {
        // Advanced but neither committed nor refused: the commit found its lease gone
        // (cancelled, or taken over after it expired), fenced by the lease's epoch.
        if (advanced && !refused.has(claim.runId)) metrics.leaseLost();
        continue;
      }
      result.ticked++;
      result.runIds.push(claim.runId);
      const end = gaveUp.has(claim.runId) ? "failed" : advanced?.outcome;
      if (end === "succeeded") result.succeeded++;
      if (end === "failed") result.failed++;
      if (end === "succeeded" || end === "failed") metrics.runFinished(claim.run.jobType, claim.run.lane, end.toUpperCase());
    }
    return result;
  }

  async #write(owner: string, items: TickItem[]): Promise<CommitOutcome> {
    const o = this.#r;
    const { commitBudget, refusedRetryMs } = o.tunables;
    const fast = items.filter((item) => item.advanced && item.claim.run.commitFailures === 0);
    const alone = items.filter((item) => !fast.includes(item));
    let fastRefused = false;
    let committed = new Set<string>();
    if (fast.length > 0) {
      try {
        committed = await commitChanges(
          o.db,
          fast.map((item) => (item.advanced as AdvancedRun).change),
        );
      } catch (error) {
        if (isDatabaseUnavailable(error)) throw error;
        o.log.warn({ err: error, runs: fast.length }, "a tick's commit failed; committing its runs apart");
        o.metrics.commitFailed();
        alone.push(...fast);
        fastRefused = true;
      }
    }
    if (alone.length === 0) return { committed, refused: new Set(), gaveUp: new Set() };
    const now = o.clock.now();
    const isolated = await commitEachAlone(
      o.db,
      alone.map(({ claim, advanced, error }) => ({
        runId: claim.runId,
        epoch: claim.epoch,
        commitFailures: claim.run.commitFailures,
        change: advanced?.change,
        error,
        inRefusedBatch: fastRefused && claim.run.commitFailures === 0 && advanced !== undefined,
      })),
      {
        owner,
        budget: commitBudget,
        retryAt: (failures) => new Date(now.getTime() + refusedRetryMs * 2 ** (failures - 1)),
        counts: (error) => !isEnvironmental(error),
        giveUp: (run, steps, error) =>
          [true, false].map((withSteps) => ({
            runId: run.id,
            owner: "",
            epoch: run.leaseEpoch,
            baseSeq: run.seq,
            ...planGiveUp(run, steps, givingUpReason(error, commitBudget), now, { withSteps }),
          })),
      },
    );
    for (const id of isolated.committed) committed.add(id);
    o.metrics.commitFailed(isolated.refused.length);
    for (const { runId, error } of isolated.refused) {
      const failures = (alone.find((item) => item.claim.runId === runId)?.claim.run.commitFailures ?? 0) + 1;
      o.log.error(
        { err: error, runId, failures, budget: commitBudget, gaveUp: isolated.gaveUp.has(runId) },
        "the run's changes could not be committed",
      );
    }
    return { committed, refused: new Set(isolated.refused.map((r) => r.runId)), gaveUp: isolated.gaveUp };
  }
}

/**
 * A refusal that says something about the database's state rather than the run's changes:
 * it is not counted against the run. PostgreSQL: a lock not available or a statement
 * cancelled (a timeout), resources exhausted (class 53: disk full, out of memory), an
 * operator's intervention (class 57), a system error (class 58). SQLite: a full disk, an I/O
 * error, a busy or locked database, out of memory.
 */
const ENVIRONMENTAL_SQLSTATE = /^(55P03|57\w{3}|53\w{3}|58\w{3})$/;
const ENVIRONMENTAL_SQLITE = /^SQLITE_(FULL|IOERR|BUSY|LOCKED|NOMEM|INTERRUPT)/;

function isEnvironmental(error: unknown): boolean {
  if (isDatabaseUnavailable(error)) return true;
  const cause = (error as { meta?: { driverAdapterError?: { cause?: { originalCode?: string; code?: string } } } } | null)?.meta
    ?.driverAdapterError?.cause;
  const code = cause?.originalCode ?? cause?.code ?? "";
  return ENVIRONMENTAL_SQLSTATE.test(code) || ENVIRONMENTAL_SQLITE.test(code);
}

/** `run_failed`'s `data.reason` for a run given up on: what kept failing, in one short line (details go to the log). */
function givingUpReason(error: unknown, budget: number): string {
  const what = `its changes could not be committed ${budget} times in a row`;
  return sanitizeText(`${what}: ${shortCause(error)}`, 500);
}

/** The database's own message for a refused statement (Prisma wraps it in several lines of its own), or the error's first line. */
function shortCause(error: unknown): string {
  const cause = (error as { meta?: { driverAdapterError?: { cause?: { originalMessage?: string; message?: string } } } } | null)?.meta
    ?.driverAdapterError?.cause;
  const text = cause?.originalMessage ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
  return (
    text
      .split("\n")
      .map((line) => line.trim())
      .find((line) => line !== "") ?? "unknown error"
  );
}
