/*
 * The lifecycle operations (API.md, "Lifecycle"): re-runs, bulk cancel and re-run, pauses
 * and retention. One system behind the Forge facade; each operation works in batches of
 * one short transaction each, so acting on 100,000 runs never holds one long transaction,
 * and lets the event loop turn between batches, so the worker in the same process goes on.
 */
import { planCancel } from "../domain/cancel.ts";
import type { NewEvent } from "../domain/event.ts";
import { stepsToReuse } from "../domain/rerun.ts";
import { type BulkFilter, checkRunFilter, type RunFilterInput } from "../domain/run-filter.ts";
import { type CreateRunInput, checkName } from "../domain/run-input.ts";
import { isTerminalRun, RUN_STATUSES, type RunStatus } from "../domain/status.ts";
import type { PauseScope } from "../domain/waiting.ts";
import { InvalidInput, RunNotFound } from "../errors.ts";
import { byRun, type NewRunRows, type RunRecord, type StepRecord } from "../store/records.ts";
import { findSteps, findTaken } from "../store/runs.ts";
import { type MatchedRun, matchingRuns, runSizes, type WalkCursor, withReruns } from "../store/sql/bulk.ts";
import { changeRunsOverridingLeases } from "../store/sql/cancel.ts";
import { liftPause, listPauses, setPause } from "../store/sql/pauses.ts";
import { countPrunable, type PruneCounts, type PruneScope, pruneBatch } from "../store/sql/prune.ts";
import { insertReruns, type PlannedRerun } from "../store/sql/rerun.ts";
import type { EngineResources } from "./resources.ts";
import type { Scheduler } from "./scheduler.ts";

/** Runs one bulk-action transaction acts on: a few milliseconds of writes. */
export const BULK_BATCH = 200;
/**
 * Steps one bulk-action transaction writes at most: a page of runs with large graphs is split
 * into several transactions (a run larger than this is one on its own), so neither a
 * transaction nor, on SQLite, a statement holding the event loop grows with graph size.
 */
export const BULK_STEPS = 2000;
/** ...and at most this many bytes of artifacts (a re-run copies those of its reused steps). */
export const BULK_ARTIFACT_BYTES = 2 * 1024 * 1024;
/**
 * Runs one prune transaction deletes, with their steps, events and artifacts... 100, not more:
 * on SQLite a batch holds the event loop while it deletes and commits (about 15 ms at 500), and
 * the worker in the same process drained 0.63 of its throughput beside a prune in batches of 500
 * against 0.86 in batches of 100 (bench/lifecycle.ts).
 */
export const PRUNE_BATCH = 100;
/** ...and at most this many events among them (a run larger than this goes alone). */
export const PRUNE_EVENTS = 20_000;
/** Ids a BulkResult lists at most. */
export const BULK_IDS = 1000;

export const TERMINAL_STATUSES: readonly RunStatus[] = RUN_STATUSES.filter((s) => isTerminalRun(s));
/** The statuses rerunRuns re-runs: runs that did not succeed. */
const RERUNNABLE: ReadonlySet<RunStatus> = new Set(["FAILED", "CANCELLED"]);

export interface BulkResult {
  matched: number;
  affected: number;
  runIds: string[];
  dryRun: boolean;
}

export interface PruneResult extends PruneCounts {
  dryRun: boolean;
}

/** What the lifecycle system needs from the facade besides the shared resources. */
export interface LifecycleDeps {
  resources: EngineResources;
  scheduler: Scheduler;
  /** Builds a run from an input under the policy in force now, as createRun would (validating it). */
  plan(input: CreateRunInput, now: Date): { run: RunRecord; rows: NewRunRows };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

export class Lifecycle {
  constructor(private readonly d: LifecycleDeps) {}

  /** A re-run of a finished run (API.md, "rerunRun"), made in one transaction. */
  async rerun(id: string, fromStep: string | null): Promise<RunRecord> {
    checkName("id", id);
    const now = this.d.resources.clock.now();
    const [outcome] = await insertReruns(this.d.resources.db, [id], { skipRerun: false }, (original, steps) => {
      if (!isTerminalRun(original.status)) {
        throw new InvalidInput(
          "id",
          `run "${id}" is ${original.status}; only a finished run (SUCCEEDED, FAILED or CANCELLED) can be re-run`,
        );
      }
      return this.#planRerun(original, steps, fromStep, now);
    });
    if (!outcome || !("rerun" in outcome)) throw new RunNotFound(id);
    this.#created([outcome.rerun]);
    return outcome.rerun.run as RunRecord;
  }

  /** Cancels every unfinished run matching the filter, a batch per transaction. */
  async cancelMatching(input: RunFilterInput, dryRun: boolean): Promise<BulkResult> {
    const { db, clock, metrics, feed } = this.d.resources;
    return this.#walk(input, dryRun, async (page) => {
      const open = page.filter((r) => !isTerminalRun(r.status)).map((r) => r.id);
      if (dryRun) return open;
      const cancelled = new Set<string>();
      for (const group of await this.#bySteps(open)) {
        const now = clock.now();
        const changes = await changeRunsOverridingLeases(db, group, (run, steps) => {
          const plan = planCancel(run, steps, now);
          return plan && { runId: run.id, owner: "", epoch: run.leaseEpoch, baseSeq: run.seq, ...plan };
        });
        if (changes.length > 0) feed.notify();
        for (const c of changes) cancelled.add(c.runId);
      }
      for (const run of page) {
        if (!cancelled.has(run.id)) continue;
        this.d.scheduler.abortRun(run.id, new Error(`run "${run.id}" was cancelled`));
        metrics.runFinished(run.jobType, run.lane, "CANCELLED");
      }
      return open.filter((runId) => cancelled.has(runId));
    });
  }

  /** Re-runs every FAILED or CANCELLED run matching the filter that has no re-run yet, a batch per transaction. */
  async rerunMatching(input: RunFilterInput, dryRun: boolean): Promise<BulkResult> {
    const { db, clock, log } = this.d.resources;
    return this.#walk(input, dryRun, async (page) => {
      const candidates = page.filter((r) => RERUNNABLE.has(r.status)).map((r) => r.id);
      if (dryRun) {
        // What the real call would do: the runs without a re-run whose re-run the policy in force now accepts.
        const taken = await withReruns(db, candidates);
        const open = candidates.filter((runId) => !taken.has(runId));
        const now = clock.now();
        const [originals, steps] = await Promise.all([findTaken(db, open, []), findSteps(db, open, "now")]);
        const originalOf = new Map(originals.map((r) => [r.id, r]));
        const stepsOf = byRun(steps);
        return open.filter((runId) => {
          const original = originalOf.get(runId);
          if (!original) return false;
          try {
            this.#planRerun(original, stepsOf.get(runId) ?? [], null, now);
            return true;
          } catch (error) {
            if (!(error instanceof InvalidInput)) throw error;
            return false;
          }
        });
      }
      const rerun: string[] = [];
      for (const group of await this.#bySteps(candidates)) {
        const now = clock.now();
        const outcomes = await insertReruns(db, group, { skipRerun: true }, (original, steps) => {
          if (!RERUNNABLE.has(original.status)) return null;
          try {
            return this.#planRerun(original, steps, null, now);
          } catch (error) {
            // One run the policy in force now refuses does not stop the others.
            if (!(error instanceof InvalidInput)) throw error;
            log.warn({ runId: original.id, problem: error.message }, "rerunRuns: run not re-run");
            return null;
          }
        });
        this.#created(outcomes.flatMap((o) => ("rerun" in o ? [o.rerun] : [])));
        rerun.push(...outcomes.flatMap((o) => ("rerun" in o ? [o.originalId] : [])));
      }
      return rerun;
    });
  }

  pauses(): Promise<PauseScope[]> {
    return listPauses(this.d.resources.db);
  }

  async pause(lane: string | null, jobType: string | null, reason: string | null): Promise<PauseScope> {
    checkScope(lane, jobType);
    if (reason !== null && (reason.length > 1024 || reason.trim() === "")) {
      throw new InvalidInput("reason", "must be 1-1024 characters, not blank (or left out)");
    }
    return setPause(this.d.resources.db, lane, jobType, reason, this.d.resources.clock.now());
  }

  async resume(lane: string | null, jobType: string | null): Promise<boolean> {
    checkScope(lane, jobType);
    const lifted = await liftPause(this.d.resources.db, lane, jobType);
    // Wake the workers (here, and on PostgreSQL elsewhere): the paused runs may be due.
    if (lifted) this.d.resources.feed.notify("created");
    return lifted;
  }

  /**
   * Deletes finished runs (with their steps, events and artifacts) finished before the
   * instant, a batch per transaction; with dryRun, counts them. An instant in the future is
   * taken as now, so a prune ends even while runs go on finishing.
   */
  async prune(finishedBefore: Date, statuses: readonly RunStatus[] | null, dryRun: boolean): Promise<PruneResult> {
    const scope: PruneScope = {
      finishedBefore: new Date(Math.min(finishedBefore.getTime(), this.d.resources.clock.now().getTime())),
      statuses: checkPruneStatuses(statuses),
    };
    if (dryRun) return { ...(await countPrunable(this.d.resources.db, scope)), dryRun: true };
    return { ...(await this.pruneScope(scope)), dryRun: false };
  }

  /** Prunes a scope to its end, batch by batch; `keepGoing` (the pruner's lease) is asked before each batch. */
  async pruneScope(scope: PruneScope, keepGoing: () => Promise<boolean> = async () => true): Promise<PruneCounts> {
    const total: PruneCounts = { runs: 0, events: 0, artifacts: 0 };
    while (await keepGoing()) {
      const batch = await pruneBatch(this.d.resources.db, scope, PRUNE_BATCH, PRUNE_EVENTS);
      if (batch.runs === 0) break;
      total.runs += batch.runs;
      total.events += batch.events;
      total.artifacts += batch.artifacts;
      await turn();
    }
    return total;
  }

  /**
   * Walks the runs matching the filter at the moment of the call, newest first, a page per
   * batch; `act` returns the ids of the page's runs it changed (or, dry, would change).
   */
  async #walk(input: RunFilterInput, dryRun: boolean, act: (page: MatchedPage) => Promise<string[]>): Promise<BulkResult> {
    const filter: BulkFilter = checkRunFilter(input);
    const { db, clock } = this.d.resources;
    const at = clock.now();
    const result: BulkResult = { matched: 0, affected: 0, runIds: [], dryRun };
    let after: WalkCursor | null = null;
    for (;;) {
      const page = await matchingRuns(db, filter, at, after, BULK_BATCH);
      if (page.length === 0) break;
      result.matched += page.length;
      const affected = await act(page);
      result.affected += affected.length;
      for (const runId of affected) if (result.runIds.length < BULK_IDS) result.runIds.push(runId);
      const last = page[page.length - 1] as (typeof page)[number];
      after = { createdAt: last.createdAt, id: last.id };
      if (page.length < BULK_BATCH) break;
      await turn();
    }
    return result;
  }

  /**
   * The runs in groups of at most BULK_STEPS steps and BULK_ARTIFACT_BYTES of artifacts (a
   * larger run alone), in their order, for one transaction each.
   */
  async #bySteps(ids: string[]): Promise<string[][]> {
    const sizes = await runSizes(this.d.resources.db, ids);
    const groups: string[][] = [];
    let steps = Number.POSITIVE_INFINITY;
    let bytes = 0;
    for (const id of ids) {
      const size = sizes.get(id) ?? { steps: 0, artifactBytes: 0 };
      if (steps + size.steps > BULK_STEPS || bytes + size.artifactBytes > BULK_ARTIFACT_BYTES) {
        groups.push([]);
        steps = 0;
        bytes = 0;
      }
      (groups.at(-1) as string[]).push(id);
      steps += size.steps;
      bytes += size.artifactBytes;
    }
    return groups;
  }

  /** The re-run of `original`: the same input under the policy in force now, its reusable steps done. */
  #planRerun(original: RunRecord, steps: StepRecord[], fromStep: string | null, now: Date): PlannedRerun {
    const reused = stepsToReuse(steps, fromStep);
    const input: CreateRunInput = {
      mode: original.mode,
      jobType: original.jobType,
      requestedBy: original.requestedBy,
      lane: original.lane,
      priority: original.priority,
      graph: original.graph,
      params: original.params,
    };
    let planned: { run: RunRecord; rows: NewRunRows };
    try {
      planned = this.d.plan(input, now);
    } catch (error) {
      if (!(error instanceof InvalidInput)) throw error;
      throw new InvalidInput("id", `run "${original.id}" cannot be re-run under its job type's policy now: ${error.message}`);
    }
    const stored = new Map(steps.map((s) => [s.id, s]));
    const events: NewEvent[] = [{ type: "run_created", stepId: null, data: { rerunOf: original.id, fromStep }, createdAt: now }];
    const rerunSteps = planned.rows.steps.map((s) => {
      if (!reused.has(s.id)) return { ...s, status: "PENDING" as const, output: null, startedAt: null, finishedAt: null };
      events.push({ type: "step_reused", stepId: s.id, data: { fromRunId: original.id }, createdAt: now });
      return { ...s, status: "SUCCEEDED" as const, output: stored.get(s.id)?.output ?? null, startedAt: now, finishedAt: now };
    });
    const run = { ...planned.run, rerunOf: original.id, seq: events.length };
    return {
      run,
      steps: rerunSteps,
      events,
      reusedStepIds: rerunSteps.filter((s) => s.status === "SUCCEEDED").map((s) => s.id),
    };
  }

  /** New runs were committed: wake the workers and count them. */
  #created(reruns: PlannedRerun[]): void {
    if (reruns.length === 0) return;
    this.d.resources.feed.notify("created");
    for (const { run } of reruns) this.d.resources.metrics.runCreated(run.jobType, run.lane);
  }
}

type MatchedPage = MatchedRun[];

function checkScope(lane: string | null, jobType: string | null): void {
  if (lane === null && jobType === null) throw new InvalidInput("lane", "give a lane, a jobType or both");
  for (const [field, value] of [
    ["lane", lane],
    ["jobType", jobType],
  ] as const) {
    if (value !== null && !/^[A-Za-z0-9._:-]{1,128}$/.test(value)) {
      throw new InvalidInput(field, "must be 1-128 characters of [A-Za-z0-9._:-]");
    }
  }
}

function checkPruneStatuses(statuses: readonly RunStatus[] | null): RunStatus[] {
  if (statuses === null) return [...TERMINAL_STATUSES];
  if (statuses.length === 0) throw new InvalidInput("status", "must list at least one status (leave it out for every finished status)");
  statuses.forEach((s, i) => {
    if (!TERMINAL_STATUSES.includes(s)) {
      throw new InvalidInput(`status[${i}]`, `${s} is not a finished status: only ${TERMINAL_STATUSES.join(", ")} runs are pruned`);
    }
  });
  return [...new Set(statuses)];
}
