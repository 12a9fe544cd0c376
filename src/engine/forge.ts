import type { Logger } from "pino";
import type { Clock } from "../clock.ts";
import type { EngineTunables } from "../config.ts";
import { planCancel } from "../domain/cancel.ts";
import { waitsForSignal } from "../domain/change.ts";
import type { StoredEvent } from "../domain/event.ts";
import { topologicalOrder } from "../domain/graph.ts";
import { newRunId } from "../domain/ids.ts";
import { PolicySet } from "../domain/policy.ts";
import { type CreateRunInput, checkJson, checkText, type ValidRunInput, validateRunInput } from "../domain/run-input.ts";
import { isTerminalRun } from "../domain/status.ts";
import { type Waiting, whyWaiting } from "../domain/waiting.ts";
import { Conflict, InvalidInput, RunNotFound } from "../errors.ts";
import { ForgeMetrics } from "../ops/metrics.ts";
import type { Tracing } from "../ops/tracing.ts";
import { type ArtifactRecord, artifactContents, listArtifacts } from "../store/artifacts.ts";
import { type Db, isUniqueViolation } from "../store/db.ts";
import { listRunEvents } from "../store/events.ts";
import { migrate } from "../store/migrate.ts";
import { byRun, type NewRunRows, type RunRecord, type StepRecord } from "../store/records.ts";
import {
  findRun,
  findRunByIdempotencyKey,
  findSteps,
  findTaken,
  listRuns,
  type RunCursor,
  type RunFilter,
  waitingSteps,
} from "../store/runs.ts";
import { rerunsOf } from "../store/sql/bulk.ts";
import { changeRunOverridingLease } from "../store/sql/cancel.ts";
import { laneLoads } from "../store/sql/claim.ts";
import { insertRuns } from "../store/sql/insert-runs.ts";
import { listPauses } from "../store/sql/pauses.ts";
import { deliverSignal } from "../store/sql/signal.ts";
import { type LaneQueue, liveWorkers, queueByLane, queueStats, type WorkerRow, workersByIds } from "../store/workers.ts";
import { type AuditTrail, LogAuditTrail } from "./audit.ts";
import type { TickResult } from "./commit.ts";
import { EventFeed } from "./event-feed.ts";
import { type FollowDeps, followAll, followRun } from "./follow.ts";
import { InsertQueue } from "./insert-queue.ts";
import { Lifecycle } from "./lifecycle.ts";
import { Pruner } from "./pruner.ts";
import { type EngineResources, engineTunables } from "./resources.ts";
import { Scheduler } from "./scheduler.ts";
import { defaultRegistry } from "./steps/index.ts";
import type { StepRegistry } from "./steps/registry.ts";
import { Worker } from "./worker.ts";

/** Runs one createRuns call may create: one transaction of a few milliseconds. */
export const MAX_BATCH = 500;
/** How long createRuns works through its inputs before letting the event loop turn. */
const YIELD_AFTER_MS = 10;

/**
 * What a Forge engine is made of. The tunables (config.ts, EngineTunables) sit beside the
 * rest: those not given take their defaults; configuration gives them all (engine/setup.ts).
 */
export interface ForgeOptions extends Partial<EngineTunables> {
  db: Db;
  clock: Clock;
  log: Logger;
  leaseMs: number;
  tickLimit: number;
  tickIntervalMs: number;
  workerEnabled: boolean;
  registry?: StepRegistry;
  /** The policies createRun enforces (default: the built-in one). */
  policies?: PolicySet;
  /** Where the engine counts what it does (default: a registry of its own). */
  metrics?: ForgeMetrics;
  /** Where ticks and attempts are traced (default: nowhere). Shut down with the engine. */
  tracing?: Tracing | null;
  /** Where admin actions are recorded (default: the log). */
  audit?: AuditTrail;
}

/** A createRun input as it will be stored: validated, and the rows that create it. */
interface PlannedRun {
  valid: ValidRunInput;
  run: RunRecord;
  rows: NewRunRows;
}

export interface WorkerStatus {
  enabled: boolean;
  running: boolean;
  workerId: string | null;
  ticks: number;
  lastTickAt: Date | null;
  queueDepth: number;
  oldestQueuedAt: Date | null;
  /** The queue per lane (lanes with runs due only), by lane name. */
  lanes: LaneQueue[];
  /** Workers with a heartbeat within three intervals, freshest first. */
  workers: WorkerRow[];
}

/**
 * The engine's facade: one object per process that owns the event feed, the scheduler
 * and (when enabled) the worker, and offers the operations the API exposes.
 */
export class Forge {
  readonly db: Db;
  readonly clock: Clock;
  readonly registry: StepRegistry;
  readonly policies: PolicySet;
  readonly feed: EventFeed;
  readonly scheduler: Scheduler;
  readonly worker: Worker | null;
  /** Re-runs, bulk actions, pauses and retention (engine/lifecycle.ts). */
  readonly lifecycle: Lifecycle;
  /** Background retention; only where the worker runs. */
  readonly pruner: Pruner | null;
  /** What the engine's systems share (engine/resources.ts). */
  readonly resources: EngineResources;
  readonly #o: ForgeOptions;
  readonly #inserts: InsertQueue;
  get #follow(): FollowDeps {
    return { db: this.db, feed: this.feed, metrics: this.resources.metrics };
  }

  private constructor(o: ForgeOptions) {
    this.#o = o;
    this.db = o.db;
    this.clock = o.clock;
    this.registry = o.registry ?? defaultRegistry();
    // Checked against the step types when loaded (engine/setup.ts), before anything starts.
    this.policies = o.policies ?? new PolicySet({});
    this.feed = new EventFeed(o.db, o.log);
    this.#inserts = new InsertQueue(o.db);
    const {
      db,
      clock,
      log,
      registry,
      policies: _policies,
      workerEnabled: _enabled,
      metrics: given,
      tracing = null,
      audit = new LogAuditTrail(o.log),
      ...tunables
    } = o;
    const metrics = given ?? new ForgeMetrics();
    metrics.readQueueWith(async () => {
      const now = clock.now();
      return (await queueByLane(db, now)).map(({ lane, depth, oldestDueAt }) => ({
        lane,
        depth,
        oldestAgeSeconds: oldestDueAt ? Math.max(0, (now.getTime() - oldestDueAt.getTime()) / 1000) : 0,
      }));
    });
    this.resources = {
      db,
      clock,
      log,
      registry: this.registry,
      feed: this.feed,
      tunables: engineTunables(tunables),
      metrics,
      tracing,
      audit,
    };
    this.scheduler = new Scheduler(this.resources);
    this.worker = o.workerEnabled ? new Worker({ resources: this.resources, scheduler: this.scheduler }) : null;
    this.lifecycle = new Lifecycle({ resources: this.resources, scheduler: this.scheduler, plan: (input, now) => this.#plan(input, now) });
    this.pruner = o.workerEnabled
      ? new Pruner({ resources: this.resources, lifecycle: this.lifecycle, policies: this.policies, audit })
      : null;
  }

  /** Migrates the database, starts the feed and, when enabled, the worker. */
  static async start(options: ForgeOptions): Promise<Forge> {
    const report = await migrate(options.db);
    if (report.applied.length > 0) options.log.info({ applied: report.applied }, "migrations applied");
    const forge = new Forge(options);
    await forge.feed.start(forge.resources.tunables.feedPollMs);
    await forge.worker?.start();
    forge.pruner?.start();
    return forge;
  }

  async stop(): Promise<void> {
    await this.pruner?.stop();
    await this.worker?.stop();
    await this.feed.stop();
    await this.resources.tracing?.shutdown(this.resources.log);
  }

  /** Validates one input and builds the run as it will be stored, with the rows that create it. */
  #plan(input: CreateRunInput, now: Date): PlannedRun {
    // The policy is looked up before the job type is checked; an invalid job type is refused below anyway.
    const policy = this.policies.forJobType(String(input.jobType));
    const valid = validateRunInput(input, {
      stepTypes: this.registry.types(),
      maxSteps: policy.maxSteps,
      allowedStepTypes: policy.allowedStepTypes && new Set(policy.allowedStepTypes),
      allowedModes: policy.allowedModes,
      limitsFrom: `the policy of job type "${input.jobType}"`,
      checkParams: (type, params) => this.registry.checkParams(type, params),
    });
    const run: RunRecord = {
      id: valid.id ?? newRunId(now),
      mode: valid.mode,
      jobType: valid.jobType,
      lane: valid.lane,
      requestedBy: valid.requestedBy,
      priority: valid.priority,
      status: "PENDING",
      graph: valid.graph,
      params: valid.params,
      idempotencyKey: valid.idempotencyKey,
      inputHash: valid.inputHash,
      createdAt: now,
      updatedAt: now,
      startedAt: null,
      finishedAt: null,
      seq: 1,
      leaseOwner: null,
      leaseEpoch: 0,
      leaseExpiresAt: null,
      wakeAt: now,
      policy,
      laneCap: PolicySet.laneCap(policy, valid.lane),
      commitFailures: 0,
      rerunOf: null,
      latestRerun: null,
    };
    const steps = topologicalOrder(valid.graph).map((id, position) => {
      const step = valid.graph.steps[id] as { type: string; deps: string[] };
      return { runId: run.id, id, position, type: step.type, deps: step.deps, status: "PENDING" as const };
    });
    return { valid, run, rows: { run, steps, event: { type: "run_created", stepId: null, data: null, createdAt: now } } };
  }

  async createRun(input: CreateRunInput): Promise<RunRecord> {
    const { valid, run, rows } = this.#plan(input, this.clock.now());
    if (valid.idempotencyKey) {
      const existing = await findRunByIdempotencyKey(this.db, valid.idempotencyKey);
      if (existing) return sameInputOrConflict(existing, valid, "input.idempotencyKey");
    }
    try {
      await this.#inserts.insert(rows);
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      // Lost a race with the same idempotency key, or the id is taken.
      if (valid.idempotencyKey) {
        const existing = await findRunByIdempotencyKey(this.db, valid.idempotencyKey);
        if (existing) return sameInputOrConflict(existing, valid, "input.idempotencyKey");
      }
      throw new Conflict(`input.id: a run with id "${run.id}" already exists`);
    }
    this.feed.notify("created");
    this.resources.metrics.runCreated(run.jobType, run.lane);
    return run;
  }

  /**
   * Creates several runs in one transaction, all or none: any invalid input or conflict
   * refuses the whole batch, naming the input by its index. An input whose idempotency
   * key already names a run with the same input yields that run, as createRun would.
   */
  async createRuns(inputs: CreateRunInput[], retryOnRace = true): Promise<RunRecord[]> {
    if (inputs.length < 1 || inputs.length > MAX_BATCH) throw new InvalidInput("inputs", `must hold 1 to ${MAX_BATCH} runs`);
    const now = this.clock.now();
    const planned: PlannedRun[] = [];
    let slice = performance.now();
    for (const [i, input] of inputs.entries()) {
      try {
        planned.push(this.#plan(input, now));
      } catch (error) {
        if (error instanceof InvalidInput) throw new InvalidInput(`inputs[${i}].${error.field.replace(/^input\./, "")}`, error.problem);
        throw error;
      }
      // Validating 500 large graphs takes far longer than one turn of the event loop may
      // (API.md, "The event loop"): let other requests and the ticks in flight go on between runs.
      if (performance.now() - slice > YIELD_AFTER_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        slice = performance.now();
      }
    }
    const taken = await findTaken(
      this.db,
      planned.flatMap((p) => (p.valid.id ? [p.valid.id] : [])),
      planned.flatMap((p) => (p.valid.idempotencyKey ? [p.valid.idempotencyKey] : [])),
    );
    const byKey = new Map<string, RunRecord>(taken.flatMap((r) => (r.idempotencyKey ? [[r.idempotencyKey, r] as const] : [])));
    const takenIds = new Set(taken.map((r) => r.id));
    const batchIds = new Map<string, number>();
    const results: RunRecord[] = [];
    const toInsert: NewRunRows[] = [];
    planned.forEach(({ valid, run, rows }, i) => {
      const key = valid.idempotencyKey;
      const existing = key ? byKey.get(key) : undefined;
      if (existing) {
        results.push(sameInputOrConflict(existing, valid, `inputs[${i}].idempotencyKey`));
        return;
      }
      if (takenIds.has(run.id)) throw new Conflict(`inputs[${i}].id: a run with id "${run.id}" already exists`);
      const earlier = batchIds.get(run.id);
      if (earlier !== undefined) throw new InvalidInput(`inputs[${i}].id`, `repeats the id of inputs[${earlier}]`);
      batchIds.set(run.id, i);
      if (key) byKey.set(key, run);
      toInsert.push(rows);
      results.push(run);
    });
    if (toInsert.length > 0) {
      try {
        await insertRuns(this.db, toInsert);
      } catch (error) {
        // Another request took one of these ids or keys since the check: check again.
        if (retryOnRace && isUniqueViolation(error)) return this.createRuns(inputs, false);
        throw error;
      }
      this.feed.notify("created");
      for (const { run } of toInsert) this.resources.metrics.runCreated(run.jobType, run.lane);
    }
    return results;
  }

  getRun(id: string): Promise<RunRecord | null> {
    return findRun(this.db, id);
  }

  listRuns(filter: RunFilter, first: number, after: RunCursor | null): Promise<RunRecord[]> {
    return listRuns(this.db, filter, first, after);
  }

  /** Steps of the given runs, each run's in their stable order. */
  steps(runIds: string[]): Promise<StepRecord[]> {
    return findSteps(this.db, runIds);
  }

  runEvents(runId: string, afterSeq: number, first: number): Promise<StoredEvent[]> {
    return listRunEvents(this.db, runId, afterSeq, first);
  }

  tickOnce(limit: number): Promise<TickResult> {
    return this.scheduler.tickOnce(limit);
  }

  /**
   * Cancels a run that is not finished; a finished run is returned unchanged. The lease is
   * taken away in the same commit, so attempts in flight can commit nothing; here they are
   * aborted at once, in another process when its next lease renewal fails.
   */
  async cancelRun(id: string): Promise<RunRecord> {
    const now = this.clock.now();
    const change = await changeRunOverridingLease(this.db, id, (run, steps) => {
      const plan = planCancel(run, steps, now);
      return plan && { runId: run.id, owner: "", epoch: run.leaseEpoch, baseSeq: run.seq, ...plan };
    });
    if (change) {
      this.scheduler.abortRun(id, new Error(`run "${id}" was cancelled`));
      this.feed.notify();
    }
    const run = await findRun(this.db, id);
    if (!run) throw new RunNotFound(id);
    if (change) this.resources.metrics.runFinished(run.jobType, run.lane, "CANCELLED");
    return run;
  }

  /**
   * Delivers `payload` to a step waiting for a signal (an approval): the step succeeds with
   * the payload as its output. NOT_FOUND for an unknown run; BAD_USER_INPUT naming the
   * problem for an unknown step or one that is not waiting for a signal.
   */
  async signalRun(runId: string, stepId: string, payload: unknown): Promise<RunRecord> {
    checkText("stepId", stepId);
    checkJson("payload", payload);
    const outcome = await deliverSignal(this.db, runId, stepId, payload, this.clock.now(), (run, step) => {
      if (!run) throw new RunNotFound(runId);
      if (!step) throw new InvalidInput("stepId", `run "${runId}" has no step "${stepId}"`);
      if (!waitsForSignal(step)) {
        const what = step.type === "approval" ? "approval" : `${step.type} step`;
        throw new InvalidInput("stepId", `${what} "${stepId}" is not waiting for a signal (it is ${step.status})`);
      }
      if (step.signalledAt !== null) throw new InvalidInput("stepId", `step "${stepId}" was already signalled`);
    });
    // Wake the workers (here and elsewhere): the run has work again.
    this.feed.notify(outcome === "completed" ? "created" : "events");
    return (await findRun(this.db, runId)) as RunRecord;
  }

  /** Artifacts of the given runs (without content), each run's in the order written. */
  artifacts(runIds: string[]): Promise<ArtifactRecord[]> {
    return listArtifacts(this.db, runIds);
  }

  artifactContents(ids: number[]): Promise<Map<number, string>> {
    return artifactContents(this.db, ids);
  }

  async workerStatus(): Promise<WorkerStatus> {
    const now = this.clock.now();
    const [queue, lanes, live] = await Promise.all([
      queueStats(this.db, now),
      queueByLane(this.db, now),
      liveWorkers(this.db, new Date(now.getTime() - 3 * this.resources.tunables.heartbeatMs)),
    ]);
    const base = {
      enabled: this.#o.workerEnabled,
      queueDepth: queue.depth,
      oldestQueuedAt: queue.oldest,
      lanes: lanes.sort((a, b) => (a.lane < b.lane ? -1 : a.lane > b.lane ? 1 : 0)),
      workers: live,
    };
    if (this.worker) {
      return {
        ...base,
        running: this.worker.running,
        workerId: this.worker.id,
        ticks: this.worker.ticks,
        lastTickAt: this.worker.lastTickAt,
      };
    }
    // No worker in this process: report the freshest live one elsewhere, if any.
    const [other] = live;
    return {
      ...base,
      running: other !== undefined,
      workerId: other?.id ?? null,
      ticks: other?.ticks ?? 0,
      lastTickAt: other?.lastTickAt ?? null,
    };
  }

  /**
   * Why each run does not move (API.md, "waiting"), derived from the runs with one read each
   * of their WAITING steps, the pauses, the workers holding their leases and the loads of the
   * capped lanes concerned, however many runs are asked about. `admin` callers also get what
   * only admins may read in the sentence: a pause's reason, a lease holder's name.
   */
  async waitingOf(runs: readonly RunRecord[], admin: boolean): Promise<Map<RunRecord, Waiting | null>> {
    const now = this.clock.now();
    const open = runs.filter((r) => !isTerminalRun(r.status));
    const result = new Map<RunRecord, Waiting | null>(runs.map((r) => [r, null]));
    if (open.length === 0) return result;
    const cappedLanes = [...new Set(open.filter((r) => r.status === "PENDING" && r.laneCap !== null).map((r) => r.lane))];
    const owners = [...new Set(open.flatMap((r) => (r.leaseOwner !== null ? [r.leaseOwner] : [])))];
    const staleBefore = now.getTime() - 3 * this.resources.tunables.heartbeatMs;
    const [pauses, live, holders, loads, steps] = await Promise.all([
      listPauses(this.db),
      this.worker?.running ? Promise.resolve([true]) : liveWorkers(this.db, new Date(staleBefore)),
      workersByIds(this.db, owners),
      laneLoads(this.db, cappedLanes, now),
      waitingSteps(
        this.db,
        open.map((r) => r.id),
      ),
    ]);
    const stepsByRun = byRun(steps);
    // A lease's holder is taken to be at work unless it is a worker known to be gone (stopped,
    // or silent for three heartbeats): an admin tickOnce elsewhere has no worker row.
    const gone = (owner: string) => {
      const w = holders.get(owner);
      return w !== undefined && (w.stoppedAt !== null || w.heartbeatAt.getTime() < staleBefore);
    };
    for (const run of open) {
      const holderAlive = this.scheduler.isAdvancing(run.id) || (run.leaseOwner !== null && !gone(run.leaseOwner));
      result.set(
        run,
        whyWaiting(run, stepsByRun.get(run.id) ?? [], {
          now,
          pauses,
          laneLoad: loads.get(run.lane) ?? 0,
          holderAlive,
          anyWorker: live.length > 0,
          admin,
        }),
      );
    }
    return result;
  }

  /** The re-runs of each run, oldest first. */
  rerunsOf(runIds: string[]): Promise<Map<string, string[]>> {
    return rerunsOf(this.db, runIds);
  }

  /** Stored then live events of a run; NOT_FOUND for an unknown run. */
  /** A run's events past `afterSeq`, in batches (engine/follow.ts). */
  async followRun(runId: string, afterSeq: number, signal: AbortSignal): Promise<AsyncGenerator<StoredEvent[]>> {
    const run = await findRun(this.db, runId);
    if (!run) throw new RunNotFound(runId);
    // seq only grows, so a cursor past the run's last event was never handed out; waiting
    // on it would skip the terminal event and never complete.
    if (afterSeq > run.seq) throw new InvalidInput("afterSeq", `is past the run's last event (seq ${run.seq})`);
    return followRun(this.#follow, { id: run.id, seq: run.seq, terminal: isTerminalRun(run.status) }, afterSeq, signal);
  }

  /** Every run's events past `afterId`, in batches (engine/follow.ts). */
  followAll(afterId: number | null, signal: AbortSignal): AsyncGenerator<StoredEvent[]> {
    return followAll(this.#follow, afterId, signal);
  }
}

function sameInputOrConflict(existing: RunRecord, valid: ValidRunInput, field: string): RunRecord {
  if (existing.inputHash === valid.inputHash) return existing;
  throw new Conflict(`${field}: key "${valid.idempotencyKey}" was already used with a different input`);
}
