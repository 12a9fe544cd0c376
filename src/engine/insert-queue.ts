import { type Db, isDatabaseUnavailable } from "../store/db.ts";
import type { NewRunRows } from "../store/records.ts";
import { insertRuns } from "../store/sql/insert-runs.ts";

/**
 * Group commit for new runs: inserts requested during one turn of the event loop go out
 * together in one transaction at the end of that turn (setImmediate), and inserts that
 * arrive while a transaction is in flight go out together in the next one. So concurrent
 * createRun calls share transactions (and fsyncs) instead of queueing for one each.
 *
 * Flushing at once would not do: better-sqlite3 is synchronous and Prisma's steps between
 * statements are microtasks, so no other request is even read while a transaction runs,
 * and every batch would hold one insert. No timer is involved: a lone caller waits only
 * for the rest of the current turn.
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
      if (!this.#flushing) {
        this.#flushing = true;
        setImmediate(() => void this.#flush());
      }
    });
  }

  async #flush(): Promise<void> {
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
          if (batch.length === 1 || isDatabaseUnavailable(error)) {
            // The database itself failed (locked, restarting, gone): every caller gets the error.
            for (const b of batch) b.reject(error);
            continue;
          }
          // One run's rows were refused (a duplicate id or key, or anything else the
          // database would not take): that must not fail the runs that only shared its
          // transaction, so each goes again alone and gets its own answer.
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
