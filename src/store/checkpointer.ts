import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/**
 * SQLite's WAL checkpoints, off the event loop.
 *
 * By default SQLite checkpoints on the connection that commits, inside the commit, once the
 * WAL passes 1,000 pages: better-sqlite3 runs it on the event loop, and after a large
 * transaction (a createRuns of 500 large graphs writes about 40 MB) copying the WAL into
 * the database file and syncing it held the loop for about 80 ms on a plain disk, on top of
 * the commit's own sync. So Forge's writer connection does not checkpoint
 * (`wal_autocheckpoint = 0`), and this worker thread, with a connection of its own to the
 * same file, runs PASSIVE checkpoints (they never block a writer or a reader) soon after
 * commits: at most one every INTERVAL_MS while writes go on.
 *
 * If the thread fails, `onFailure` hands checkpoints back to the writer (the WAL must not
 * grow without bound). When the last connection closes, SQLite checkpoints what is left.
 */
const INTERVAL_MS = 100;
/**
 * A checkpoint copies the WAL into the database but does not rewind it: SQLite starts the
 * WAL over when a write begins with every frame copied, and under steady writes a commit
 * lands during every checkpoint of the thread, so the file would grow without end. Once a
 * checkpoint of the thread finds more than this many frames (about 16 MB at 4 KiB pages) and
 * copies them all, the writer runs one checkpoint itself at once (`rewind`): only the frames
 * committed while the thread ran are left to copy, so it is short, and the next write starts
 * the WAL over.
 */
const REWIND_PAST_FRAMES = 4000;

// Plain JavaScript, run as the thread's source: a .ts file would need the loader in the thread.
const THREAD = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
// No busy wait: a checkpoint that finds the file locked copies what it can and returns.
const db = new Database(workerData.path, { timeout: 0, fileMustExist: true });
parentPort.on("message", (message) => {
  if (message === "close") {
    db.close();
    parentPort.close();
    return;
  }
  const [result] = db.pragma("wal_checkpoint(PASSIVE)");
  parentPort.postMessage(result);
});
`;

export interface CheckpointResult {
  /** 1 when another connection held a lock the checkpoint needed (it copied what it could). */
  busy: number;
  /** Frames in the WAL, and how many of them are in the database file now. */
  log: number;
  checkpointed: number;
}

export class WalCheckpointer {
  readonly #worker: Worker;
  #timer: NodeJS.Timeout | null = null;
  #running = false;
  #again = false;
  #stopped = false;
  /** Waiting for the checkpoint running, and for one to start after it. */
  #waiters: Array<(result: CheckpointResult) => void> = [];
  #nextWaiters: Array<(result: CheckpointResult) => void> = [];
  /** Checkpoints completed, and the last one's result. */
  count = 0;
  last: CheckpointResult | null = null;

  readonly #rewind: () => void;
  readonly #rewindPastFrames: number;

  /**
   * `rewind` runs a checkpoint on the writer's connection, outside any transaction (see
   * REWIND_PAST_FRAMES); `onFailure` is told when the thread fails.
   */
  constructor(path: string, o: { rewind: () => void; onFailure: (error: unknown) => void; rewindPastFrames?: number }) {
    const driver = createRequire(import.meta.url).resolve("better-sqlite3");
    this.#rewind = o.rewind;
    this.#rewindPastFrames = o.rewindPastFrames ?? REWIND_PAST_FRAMES;
    const onFailure = o.onFailure;
    this.#worker = new Worker(THREAD, { eval: true, workerData: { path, driver } });
    // A thread that only waits must not keep the process alive.
    this.#worker.unref();
    this.#worker.on("message", (result: CheckpointResult) => {
      this.count++;
      this.last = result;
      this.#running = false;
      // Right now the thread has copied every frame but those of commits made while it ran.
      if (result.log > this.#rewindPastFrames && result.checkpointed === result.log) this.#rewind();
      for (const resolve of this.#waiters.splice(0)) resolve(result);
      this.#waiters = this.#nextWaiters.splice(0);
      if (this.#waiters.length > 0) this.#run();
      else if (this.#again) this.committed();
    });
    this.#worker.on("error", (error) => {
      if (this.#stopped) return;
      this.#stopped = true;
      onFailure(error);
    });
  }

  /** A transaction committed: a checkpoint follows within INTERVAL_MS. */
  committed(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    if (this.#timer) return;
    this.#timer = setTimeout(() => this.#run(), INTERVAL_MS);
    this.#timer.unref();
  }

  /** Runs a checkpoint now (or once the one running ends) and waits for it; for tests. */
  checkpoint(): Promise<CheckpointResult> {
    if (this.#stopped) return Promise.reject(new Error("the WAL checkpointer has stopped"));
    if (this.#running) return new Promise((resolve) => this.#nextWaiters.push(resolve));
    const done = new Promise<CheckpointResult>((resolve) => this.#waiters.push(resolve));
    this.#run();
    return done;
  }

  #run(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#again = false;
    if (this.#stopped) return;
    this.#running = true;
    this.#worker.postMessage("checkpoint");
  }

  async stop(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#stopped) return;
    this.#stopped = true;
    const exited = new Promise((resolve) => this.#worker.once("exit", resolve));
    // Held while it closes: waiting on an unreferenced thread, a process with nothing else to
    // do would exit before the wait ends (and skip whatever follows the close).
    this.#worker.ref();
    this.#worker.postMessage("close");
    await exited;
  }
}
