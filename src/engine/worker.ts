import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { markWorkerStopped, nextWakeAt, recordWorkerTicks, registerWorker } from "../store/workers.ts";
import type { EngineResources } from "./resources.ts";
import { type Scheduler, withinRealTime } from "./scheduler.ts";

/**
 * The background worker: ticks in a loop while there is work, backs off while idle, and
 * wakes early when a run is created (in this process, or on PostgreSQL in any). It registers itself in the workers
 * table and heartbeats there, so `workerStatus` can tell whether it is alive.
 *
 * Modes: idle (waiting for work) -> ticking -> idle ...; stop() moves either to stopping,
 * which lets a tick in progress finish and commit (releasing its leases) and then ends.
 */
/**
 * From the resources' tunables: tickLimit (runs per tick), tickIntervalMs (the first idle
 * wait; it doubles while nothing is found, up to MAX_IDLE_FACTOR times), workerConcurrency
 * (most ticks in flight at once, see slowTickMs), heartbeatMs and stopGraceMs.
 */
export interface WorkerOptions {
  resources: EngineResources;
  scheduler: Scheduler;
}

const MAX_IDLE_FACTOR = 8;

export class Worker {
  readonly id = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  readonly #r: EngineResources;
  readonly #scheduler: Scheduler;
  #loop: Promise<void> | null = null;
  #stopping = new AbortController();
  /** Fired stopGraceMs after stop(): ticks still running give their runs back. */
  readonly #abandon = new AbortController();
  #wake: (() => void) | null = null;
  /** A new run arrived since the loop last looked: tick again instead of sleeping. */
  #woken = false;
  #unsubscribe: (() => void) | null = null;
  readonly #inFlight = new Set<Promise<number>>();
  ticks = 0;
  lastTickAt: Date | null = null;
  /** When this worker last wrote its row (registration counts): a readiness check fails once it is stale. */
  lastHeartbeatAt: Date | null = null;

  constructor(options: WorkerOptions) {
    this.#r = options.resources;
    this.#scheduler = options.scheduler;
  }

  get running(): boolean {
    return this.#loop !== null;
  }

  async start(): Promise<void> {
    if (this.#loop) return;
    const registeredAt = this.#r.clock.now();
    await registerWorker(this.#r.db, this.id, registeredAt);
    this.lastHeartbeatAt = registeredAt;
    this.#unsubscribe = this.#r.feed.onRunsCreated(() => {
      this.#woken = true;
      this.#wake?.();
    });
    this.#r.log.info({ workerId: this.id }, "worker started");
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    const { clock, log } = this.#r;
    const { heartbeatMs, slowTickMs, tickIntervalMs } = this.#r.tunables;
    const stop = this.#stopping.signal;
    let idle = 0;
    let lastHeartbeat = clock.now().getTime();
    const limit = this.#r.tunables.workerConcurrency;
    const stopped = untilAborted(stop);
    while (!stop.aborted) {
      const now = clock.now().getTime();
      if (now - lastHeartbeat >= heartbeatMs) {
        lastHeartbeat = now;
        const beatAt = clock.now();
        await recordWorkerTicks(this.#r.db, this.id, this.ticks, this.lastTickAt, beatAt).then(
          () => {
            this.lastHeartbeatAt = beatAt;
          },
          (error) => log.warn({ err: error }, "worker heartbeat failed"),
        );
      }
      if (this.#inFlight.size >= limit) {
        // Wake for the heartbeat too: slow ticks may hold every slot for longer than that.
        const beat = new AbortController();
        await Promise.race([...this.#inFlight, stopped, clock.sleep(heartbeatMs, beat.signal)]);
        beat.abort();
        continue;
      }
      const tickedAt = clock.now();
      // A tick still running after slowTickMs goes on in the background (it is waiting on
      // slow steps) while the loop starts another one, up to `concurrency` at once.
      const ticked = await withinRealTime(this.#tick(), slowTickMs);
      if (ticked === null) continue;
      if (ticked > 0) {
        idle = 0;
        continue;
      }
      // A stop or a new run that came while the tick ran is not waited out.
      if (stop.aborted) break;
      if (this.#woken) {
        this.#woken = false;
        idle = 0;
        continue;
      }
      // From here on a new run or a stop cuts the wait short, including one that comes while
      // the next wake time is being read (before, it was lost, and the loop slept it out).
      const woken = new AbortController();
      this.#wake = () => woken.abort();
      const onStop = () => woken.abort();
      stop.addEventListener("abort", onStop, { once: true });
      try {
        let wait = Math.min(tickIntervalMs * 2 ** idle, tickIntervalMs * MAX_IDLE_FACTOR, heartbeatMs);
        // A run waiting on a timer (a retry's backoff, a sleep) is due at a known time: be
        // there. Counted from the tick, so one that came due since is not missed.
        const due = await nextWakeAt(this.#r.db, tickedAt).catch(() => null);
        if (due) wait = Math.min(wait, due.getTime() - clock.now().getTime());
        if (wait <= 0 || woken.signal.aborted) continue;
        idle++;
        await clock.sleep(wait, woken.signal);
      } finally {
        stop.removeEventListener("abort", onStop);
        this.#wake = null;
        if (woken.signal.aborted) idle = 0;
        this.#woken = false;
      }
    }
  }

  /** One tick; resolves to the runs it advanced (0 when it failed). */
  #tick(): Promise<number> {
    const { clock, log } = this.#r;
    const scheduler = this.#scheduler;
    const tick = (async () => {
      try {
        // Stopping lets the tick finish, for up to stopGraceMs; then it is abandoned.
        const result = await scheduler.tickOnce(this.#r.tunables.tickLimit, this.id, {
          countSkipped: false,
          abandon: this.#abandon.signal,
        });
        this.ticks++;
        this.lastTickAt = clock.now();
        return result.ticked;
      } catch (error) {
        log.error({ err: error }, "worker tick failed");
        return 0;
      }
    })();
    this.#inFlight.add(tick);
    void tick.then((ticked) => {
      this.#inFlight.delete(tick);
      // A slow tick that got work done may have left more: do not let the loop sleep on it.
      if (ticked > 0) {
        this.#woken = true;
        this.#wake?.();
      }
    });
    return tick;
  }

  /** Finishes the ticks in progress (committing them and releasing their leases), then stops. */
  async stop(): Promise<void> {
    if (!this.#loop) return;
    this.#stopping.abort();
    await this.#loop;
    const grace = setTimeout(() => this.#abandon.abort(new Error("the worker is stopping")), this.#r.tunables.stopGraceMs);
    await Promise.all(this.#inFlight);
    clearTimeout(grace);
    this.#loop = null;
    this.#unsubscribe?.();
    await recordWorkerTicks(this.#r.db, this.id, this.ticks, this.lastTickAt, this.#r.clock.now());
    await markWorkerStopped(this.#r.db, this.id, this.#r.clock.now());
    this.#r.log.info({ workerId: this.id, ticks: this.ticks }, "worker stopped");
  }
}

/** Resolves when `signal` fires. */
function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}
