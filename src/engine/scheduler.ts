import { randomUUID } from "node:crypto";
import { setMaxListeners } from "node:events";
import { type Span, SpanStatusCode } from "@opentelemetry/api";
import { endSpan, type Tracing } from "../ops/tracing.ts";
import type { ClaimedRun } from "../store/sql/claim.ts";
import { releaseLeases } from "../store/sql/release.ts";
import { ClaimSystem } from "./claim.ts";
import { CommitPipeline, type TickItem, type TickResult } from "./commit.ts";
import { LeaseKeeper } from "./lease-keeper.ts";
import type { EngineResources } from "./resources.ts";
import { type AdvancedRun, advanceRun } from "./tick.ts";

/** The systems a tick goes through, in order: claim, (attempts under) the lease keeper, commit. */
interface TickSystems {
  resources: EngineResources;
  keeper: LeaseKeeper;
  pipeline: CommitPipeline;
}

/**
 * Picks runs that have work to do and advances them: claim a batch under one lease owner
 * in one statement (ClaimSystem), advance each run in memory while the lease keeper renews
 * their leases, then commit all their changes in one transaction (CommitPipeline).
 * Committing runs together is what makes throughput independent of the cost of a single
 * commit (an fsync on SQLite with synchronous=FULL).
 */
export class Scheduler {
  readonly #systems: TickSystems;
  readonly #claim: ClaimSystem;
  /** The runs this process is advancing right now, each with the controller that stops its attempts. */
  readonly #inFlight = new Map<string, AbortController>();

  constructor(resources: EngineResources) {
    this.#claim = new ClaimSystem(resources);
    this.#systems = { resources, keeper: new LeaseKeeper(resources), pipeline: new CommitPipeline(resources) };
  }

  /** Runs this process holds claimed right now (from claim to commit): zero once its ticks are done. */
  get runsInFlight(): number {
    return this.#inFlight.size;
  }

  /** This process is advancing the run right now (it holds it claimed, from claim to commit). */
  isAdvancing(runId: string): boolean {
    return this.#inFlight.has(runId);
  }

  /** Stops the attempts this process has in flight for a run (it was cancelled). False when it has none. */
  abortRun(runId: string, reason: Error): boolean {
    const controller = this.#inFlight.get(runId);
    controller?.abort(reason);
    return controller !== undefined;
  }

  /**
   * Advances at most `limit` runs, highest priority first, then oldest. `abandon` (a
   * shutdown that will not wait any longer) aborts the attempts still running; their runs
   * are given back uncommitted, to be run again by whoever claims them next.
   */
  async tickOnce(
    limit: number,
    owner = `ticker:${randomUUID()}`,
    options: { abandon?: AbortSignal; countSkipped?: boolean } = {},
  ): Promise<TickResult> {
    const { metrics, tracing } = this.#systems.resources;
    const startedAt = new Date();
    const started = performance.now();
    const batch = await this.claim(limit, owner, options.countSkipped ?? true);
    const abandon = options.abandon ?? new AbortController().signal;
    // A tick that claimed nothing is the idle worker looking: not a tick to count or trace.
    if (batch.size === 0) return batch.finish(abandon);
    const span = tracing?.startTick(owner, startedAt) ?? null;
    // A tick the sampler left out is not traced at all: none of its runs' or attempts' spans is made.
    if (tracing && span?.isRecording()) batch.trace = { tracing, tick: span };
    try {
      const result = await batch.finish(abandon);
      span?.setAttributes({
        "forge.runs": batch.size,
        "forge.ticked": result.ticked,
        "forge.succeeded": result.succeeded,
        "forge.failed": result.failed,
      });
      return result;
    } catch (error) {
      span?.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      throw error;
    } finally {
      span?.end();
      metrics.tick(batch.size, (performance.now() - started) / 1000);
    }
  }

  /** First phase of a tick: take the leases. Exposed so tests can interleave tickers. */
  async claim(limit: number, owner: string, countSkipped = true): Promise<TickBatch> {
    const { claims, skippedLeased } = await this.#claim.claim(limit, owner, countSkipped);
    return new TickBatch(this.#systems, owner, claims, skippedLeased, this.#inFlight);
  }
}

export class TickBatch {
  /** With tracing on, the tick's span: the parent of its attempts' spans (set before finish()). */
  trace: { tracing: Tracing; tick: Span } | null = null;
  /** One per claimed run, in claim order: aborts that run's attempts. Registered from the claim on, so a cancellation that lands before the steps start stops them too. */
  readonly #controllers: AbortController[];
  /** Claims (by index) whose lane or job type was paused while this batch held them: they start no new steps. */
  readonly #held = new Set<number>();

  constructor(
    private readonly o: TickSystems,
    readonly owner: string,
    private readonly claimed: ClaimedRun[],
    readonly skippedLeased: number,
    private readonly inFlight: Map<string, AbortController> = new Map(),
  ) {
    this.#controllers = claimed.map(({ runId }) => {
      const controller = new AbortController();
      // Each attempt in flight listens to its run's signal twice (its timeout and its abandon;
      // up to stepConcurrency attempts at once), past Node's default warning at 10.
      setMaxListeners(2 * o.resources.tunables.stepConcurrency + 4, controller.signal);
      inFlight.set(runId, controller);
      return controller;
    });
  }

  /** Runs claimed. */
  get size(): number {
    return this.claimed.length;
  }

  /** The runs this batch holds leases on, in pick order. */
  get claims(): Array<{ runId: string; epoch: number }> {
    return this.claimed.map(({ runId, epoch }) => ({ runId, epoch }));
  }

  /**
   * Second phase: advance every claimed run in memory, all at once. Writes nothing but
   * lease renewals: while the steps run, the leases are renewed every third of their length
   * (at least once a second), so a step may outlast FORGE_LEASE_MS. A run whose renewal
   * fails was cancelled or taken over: its attempts are aborted through their AbortSignal.
   */
  async advance(signal: AbortSignal): Promise<AdvancedRun[]> {
    const running = this.#start(signal);
    try {
      const results = await Promise.allSettled(running.runs);
      const failed = results.find((r) => r.status === "rejected");
      if (failed) throw failed.reason;
      return results.map((r) => (r as PromiseFulfilledResult<AdvancedRun>).value);
    } finally {
      running.done();
    }
  }

  /**
   * Advance and commit (what tickOnce does). All runs are committed together when they all
   * finish within `slowTickMs`; after that, each is committed as soon as it finishes. When
   * `abandon` fires, runs still in flight are given back without committing anything.
   */
  async finish(abandon: AbortSignal): Promise<TickResult> {
    const settled = new Set<number>();
    const running = this.#start(abandon, settled);
    const finished: Array<{ i: number; value?: AdvancedRun; error?: unknown }> = [];
    let wake = () => {};
    running.runs.forEach((run, i) => {
      run
        .then(
          (value) => finished.push({ i, value }),
          (error: unknown) => finished.push({ i, error }),
        )
        .finally(() => wake());
    });
    // Runs that finished before the abandon are committed; those that finish after it were
    // cut short (the abort fires their signals at once), and an attempt cut short is not a failure.
    let beforeAbandon = Number.POSITIVE_INFINITY;
    const onAbandon = () => {
      beforeAbandon = finished.length;
      wake();
    };
    if (abandon.aborted) onAbandon();
    else abandon.addEventListener("abort", onAbandon, { once: true });
    const total: TickResult = { ticked: 0, succeeded: 0, failed: 0, skippedLeased: this.skippedLeased, runIds: [] };
    const unsettled = () => this.claimed.flatMap((claim, i) => (settled.has(i) ? [] : [{ claim, i }]));
    const commitFinished = async (count: number) => {
      const batch = finished.splice(0, count);
      beforeAbandon -= batch.length;
      for (const f of batch) settled.add(f.i);
      // A run whose advance failed is committed as a refusal (counted against its budget).
      const result = await this.#commitItems(
        batch.map((f) => ({ claim: this.claimed[f.i] as ClaimedRun, advanced: f.value, error: f.error })),
      );
      total.ticked += result.ticked;
      total.succeeded += result.succeeded;
      total.failed += result.failed;
      total.runIds.push(...result.runIds);
    };
    try {
      await withinRealTime(Promise.allSettled(running.runs), this.o.resources.tunables.slowTickMs);
      while (settled.size < this.claimed.length) {
        if (abandon.aborted) {
          if (beforeAbandon > 0) await commitFinished(beforeAbandon);
          break;
        }
        if (finished.length === 0) {
          await new Promise<void>((resolve) => {
            wake = resolve;
            if (finished.length > 0 || abandon.aborted) resolve();
          });
          continue;
        }
        await commitFinished(finished.length);
      }
      if (settled.size < this.claimed.length) {
        // Abandoned: what is still running commits nothing; the leases go back now.
        await releaseLeases(
          this.o.resources.db,
          this.owner,
          unsettled().map((u) => u.claim),
        );
      }
    } catch (error) {
      // A commit failed: stop what is still running and give its leases back (the claims
      // whose commit failed were released by commit() where it could).
      const left = unsettled();
      for (const { i } of left) this.#controllers[i]?.abort(error);
      await releaseLeases(
        this.o.resources.db,
        this.owner,
        left.map((u) => u.claim),
      ).catch(() => {});
      throw error;
    } finally {
      abandon.removeEventListener("abort", onAbandon);
      running.done();
    }
    // Keep claim order in the result, as a single commit would.
    const order = new Map(this.claimed.map((c, i) => [c.runId, i]));
    total.runIds.sort((a, b) => (order.get(a) as number) - (order.get(b) as number));
    return total;
  }

  /**
   * Starts every run's advance; `done()` stops the lease keeper and forgets the runs. The
   * keeper renews the leases of the runs not in `committed` (claim indexes), which grows as
   * finish() commits runs one by one.
   */
  #start(signal: AbortSignal, committed: ReadonlySet<number> = new Set()): { runs: Promise<AdvancedRun>[]; done(): void } {
    const controllers = this.#controllers;
    const stopAll = () => {
      for (const controller of controllers) controller.abort(signal.reason);
    };
    if (signal.aborted) stopAll();
    signal.addEventListener("abort", stopAll, { once: true });
    const held = this.#held;
    const keeper = this.o.keeper.keep(
      this.owner,
      this.claimed,
      () => this.claimed.flatMap((_, i) => (committed.has(i) ? [] : [i])),
      (i, reason) => controllers[i]?.abort(reason),
      (i) => held.add(i),
    );
    const traced = this.trace;
    const runs = this.claimed.map((claim, i) => {
      const trace = traced && { tracing: traced.tracing, runTick: traced.tracing.startRunTick(traced.tick, claim.runId) };
      const advancing = this.#advanceOne(claim, i, controllers, trace);
      if (trace) {
        advancing.then(
          (advanced) => endSpan(trace.runTick, advanced.outcome),
          (error: unknown) => endSpan(trace.runTick, "failed", error instanceof Error ? error.message : String(error)),
        );
      }
      return advancing;
    });
    return {
      runs,
      done: () => {
        keeper.stop();
        signal.removeEventListener("abort", stopAll);
        this.claimed.forEach(({ runId }, i) => {
          if (this.inFlight.get(runId) === controllers[i]) this.inFlight.delete(runId);
        });
      },
    };
  }

  /** One claimed run's advance (engine/tick.ts), or the refusal that sends it to be given up on. */
  #advanceOne(
    claim: ClaimedRun,
    i: number,
    controllers: AbortController[],
    trace: { tracing: Tracing; runTick: Span } | null,
  ): Promise<AdvancedRun> {
    const { clock, registry, tunables, metrics } = this.o.resources;
    return (
      // A run whose changes were refused as often as the budget allows is not advanced again
      // (its steps would run once more): it goes to the commit to be given up on.
      claim.run.commitFailures >= tunables.commitBudget
        ? Promise.reject(new Error(`its changes were refused ${claim.run.commitFailures} times in a row`))
        : advanceRun(claim.run, claim.steps, {
            clock,
            registry,
            owner: this.owner,
            epoch: claim.epoch,
            stepBudget: tunables.stepBudget,
            stepConcurrency: tunables.stepConcurrency,
            artifactMaxBytes: tunables.artifactMaxBytes,
            signal: (controllers[i] as AbortController).signal,
            metrics,
            trace,
            held: () => this.#held.has(i),
          })
    );
  }

  /**
   * Last phase: commit every change, fenced by its lease, then wake event readers. Leases of
   * `claims` (default: the whole batch) that were not committed are given back.
   */
  commit(advanced: AdvancedRun[], claims: ClaimedRun[] = this.claimed): Promise<TickResult> {
    const byRun = new Map(advanced.map((a) => [a.change.runId, a]));
    return this.#commitItems(claims.map((claim) => ({ claim, advanced: byRun.get(claim.runId) })));
  }

  /** Commits what the items' runs came to and gives back every lease not committed (engine/commit.ts). */
  #commitItems(items: TickItem[]): Promise<TickResult> {
    return this.o.pipeline.commit(this.owner, items, this.skippedLeased);
  }
}

/** What `promise` resolves to if it settles within `ms` of wall-clock time (how long work takes is a matter of real time, not of the engine's clock), else null. */
export function withinRealTime<T>(promise: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), ms);
    timer.unref();
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
