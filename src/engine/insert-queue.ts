import type { Db } from "../store/db.ts";
import { insertRuns, type NewRunRows } from "../store/runs.ts";

/**
 * Group commit for new runs. The first insert goes out at once; inserts that arrive while
 * a transaction is in flight wait for it and then go out together in the next one, so
 * concurrent createRun calls share transactions (and fsyncs) instead of queueing for one
 * each. No timer is involved: a lone caller never waits for company.
 */
export class InsertQueue {
  readonly #db: Db;
  readonly #maxBatch: number;
  #pending: Array<{ rows: NewRunRows; resolve: () => void; reject: (error: unknown) => void }> = [];
  #flushing = false;

  /** `maxBatch` bounds one transaction; 500 runs is a few milliseconds of writing. */
  constructor(db: Db, maxBatch = 500) {
    this.#db = db;
    this.#maxBatch = maxBatch;
  }

  insert(rows: NewRunRows): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ rows, resolve, reject });
      if (!this.#flushing) void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    try {
      while (this.#pending.length > 0) {
        const batch = this.#pending.splice(0, this.#maxBatch);
        try {
          await insertRuns(
            this.#db,
            batch.map((b) => b.rows),
          );
          for (const b of batch) b.resolve();
        } catch (error) {
          if (batch.length === 1) {
            batch[0]?.reject(error);
            continue;
          }
          // One run's failure (a duplicate id, say) must not fail the others: go one by one.
          for (const b of batch) {
            await insertRuns(this.#db, [b.rows]).then(b.resolve, b.reject);
          }
        }
      }
    } finally {
      this.#flushing = false;
    }
  }
}
