import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { withinMs } from "../clock.ts";

/**
 * Forge's Prometheus metrics (API.md, "Operations"), one registry per engine so that several
 * engines in one process (tests, benchmarks) count apart. Every counter and histogram is
 * counted where the thing happens; only the queue gauges read the database, at scrape time,
 * through `queue` (one grouped read, shared by both gauges of a scrape).
 */
export type StepOutcome = "succeeded" | "failed" | "retrying" | "timed_out" | "cancelled" | "waiting";

export interface QueueByLane {
  lane: string;
  depth: number;
  /** How long ago the lane's oldest due run came due. */
  oldestAgeSeconds: number;
}

/**
 * Label values that come from clients (job types, lanes) are kept to this many distinct
 * values per label; later ones are counted under OVERFLOW_LABEL, so a client inventing job
 * types cannot grow a scrape (or Prometheus) without bound.
 */
export const MAX_LABEL_VALUES = 100;
export const OVERFLOW_LABEL = "_other";

/** Seconds: from a quick noop to a long http step or tick. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** How long a scrape waits for the queue gauges' read. */
const QUEUE_READ_MS = 2000;

const TICK_RUNS_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];

class BoundedValues {
  readonly #seen = new Set<string>();
  constructor(readonly max: number) {}
  /** `value`, or OVERFLOW_LABEL once `max` other values have been seen. */
  of(value: string): string {
    if (this.#seen.has(value)) return value;
    if (this.#seen.size >= this.max) return OVERFLOW_LABEL;
    this.#seen.add(value);
    return value;
  }
}

export interface MetricsOptions {
  /** false: nothing is counted (the families are still exposed, at zero). Only for measuring what counting costs (bench/observability.ts). */
  counting?: boolean;
}

export class ForgeMetrics {
  readonly registry = new Registry();
  readonly #counting: boolean;
  readonly #jobTypes = new BoundedValues(MAX_LABEL_VALUES);
  readonly #lanes = new BoundedValues(MAX_LABEL_VALUES);
  #queue: (() => Promise<QueueByLane[]>) | null = null;
  #subscribers = 0;

  readonly #runsCreated = new Counter({
    name: "forge_runs_created_total",
    help: "Runs this process created.",
    labelNames: ["job_type", "lane"] as const,
    registers: [this.registry],
  });
  readonly #runsFinished = new Counter({
    name: "forge_runs_finished_total",
    help: "Runs this process brought to a terminal status.",
    labelNames: ["job_type", "lane", "status"] as const,
    registers: [this.registry],
  });
  readonly #stepAttempts = new Counter({
    name: "forge_step_attempts_total",
    help: "Step attempts by step type and outcome.",
    labelNames: ["type", "outcome"] as const,
    registers: [this.registry],
  });
  readonly #stepDuration = new Histogram({
    name: "forge_step_duration_seconds",
    help: "Handler time of a step attempt.",
    labelNames: ["type"] as const,
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });
  readonly #tickDuration = new Histogram({
    name: "forge_tick_duration_seconds",
    help: "A tick, from its claim to its last commit.",
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });
  readonly #tickRuns = new Histogram({
    name: "forge_tick_runs",
    help: "Runs claimed by a tick.",
    buckets: TICK_RUNS_BUCKETS,
    registers: [this.registry],
  });
  readonly #eventDelivery = new Histogram({
    name: "forge_event_delivery_seconds",
    help: "From when this process knew an event was committed (its own commit, another's notification, or a poll) to its hand-over to a subscriber's connection.",
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });
  readonly #commitFailures = new Counter({
    name: "forge_commit_failures_total",
    help: "Commits of a tick's changes that failed.",
    registers: [this.registry],
  });
  readonly #leaseLost = new Counter({
    name: "forge_lease_lost_total",
    help: "Leases this process lost to expiry or to a cancellation made elsewhere.",
    registers: [this.registry],
  });

  constructor(options: MetricsOptions = {}) {
    this.#counting = options.counting ?? true;
    const metrics = this;
    // Both queue gauges come from one read per scrape: the first collect starts it, the other awaits it.
    // A database that does not answer leaves the queue gauges out of that scrape (within
    // QUEUE_READ_MS) and the rest of the exposition intact: an outage is when counters matter most.
    let reading: Promise<QueueByLane[]> | null = null;
    const queue = (): Promise<QueueByLane[]> => {
      const current =
        reading ??
        withinMs(metrics.#queue?.() ?? Promise.resolve([]), QUEUE_READ_MS, "the queue read took too long")
          .catch((): QueueByLane[] => [])
          .finally(() => {
            setImmediate(() => {
              reading = null;
            });
          });
      reading = current;
      return current;
    };
    new Gauge({
      name: "forge_queue_depth",
      help: "Runs due now and not leased, by lane.",
      labelNames: ["lane"] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const row of await queue()) this.inc({ lane: metrics.#lanes.of(row.lane) }, row.depth);
      },
    });
    new Gauge({
      name: "forge_queue_oldest_age_seconds",
      help: "Age of the oldest run due and not leased, by lane (0 when none is due).",
      labelNames: ["lane"] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        // Lanes folded into OVERFLOW_LABEL report the oldest of them.
        const ages = new Map<string, number>();
        for (const row of await queue()) {
          const lane = metrics.#lanes.of(row.lane);
          ages.set(lane, Math.max(ages.get(lane) ?? 0, row.oldestAgeSeconds));
        }
        for (const [lane, age] of ages) this.set({ lane }, age);
      },
    });
    new Gauge({
      name: "forge_subscribers",
      help: "Open subscriptions on this process.",
      registers: [this.registry],
      collect() {
        this.set(metrics.#subscribers);
      },
    });
    collectDefaultMetrics({ register: this.registry });
  }

  /** Where the queue gauges read from (the engine sets it once it has a database). */
  readQueueWith(read: () => Promise<QueueByLane[]>): void {
    this.#queue = read;
  }

  runCreated(jobType: string, lane: string): void {
    if (this.#counting) this.#runsCreated.inc({ job_type: this.#jobTypes.of(jobType), lane: this.#lanes.of(lane) });
  }

  runFinished(jobType: string, lane: string, status: string): void {
    if (this.#counting) this.#runsFinished.inc({ job_type: this.#jobTypes.of(jobType), lane: this.#lanes.of(lane), status });
  }

  stepAttempt(type: string, outcome: StepOutcome, seconds: number | null): void {
    if (!this.#counting) return;
    this.#stepAttempts.inc({ type, outcome });
    if (seconds !== null) this.#stepDuration.observe({ type }, seconds);
  }

  /** A tick that claimed `runs` runs took `seconds` from its claim to its last commit. */
  tick(runs: number, seconds: number): void {
    if (!this.#counting) return;
    this.#tickRuns.observe(runs);
    this.#tickDuration.observe(seconds);
  }

  commitFailed(commits = 1): void {
    if (this.#counting) this.#commitFailures.inc(commits);
  }

  leaseLost(): void {
    if (this.#counting) this.#leaseLost.inc();
  }

  /** Live events handed to a subscriber's connection at `now` (ms since the epoch), each known committed at `committedAt(event)`. */
  delivered<E>(events: readonly E[], now: number, committedAt: (event: E) => number | undefined): void {
    if (!this.#counting) return;
    for (const event of events) {
      const at = committedAt(event);
      if (at !== undefined) this.#eventDelivery.observe(Math.max(0, now - at) / 1000);
    }
  }

  subscriptionOpened(): void {
    this.#subscribers++;
  }

  subscriptionClosed(): void {
    this.#subscribers--;
  }

  /** The Prometheus text exposition of every family. */
  exposition(): Promise<string> {
    return this.registry.metrics();
  }
}
