/**
 * # Glossary
 *
 * The words Forge's code uses, each for one thing.
 *
 * - **run**: one execution of a graph of steps, created by `createRun` with a job type, a
 *   lane, a priority and params. Its status machine is in domain/status.ts. Stored in `runs`.
 * - **step**: one node of a run's graph (`graph.steps[stepId]`), with a type (noop, http,
 *   approval, ... or a module's), deps, and its own status. Stored in `steps`, keyed by
 *   (run id, step id); the API's `Step.id` is `<runId>/<stepId>`.
 * - **attempt**: one call of a step's handler. A step that fails with retries left, or whose
 *   worker died mid-call, gets another attempt; `steps.attempts` counts them. What an
 *   attempt returns or throws crosses the attempt boundary (engine/attempt.ts) before the
 *   tick sees it.
 * - **tick**: one pass of the engine over a batch of runs: claim them, advance each as far as
 *   it can go without waiting (engine/tick.ts), commit what they came to. `tickOnce` is one
 *   tick on demand; the worker ticks in a loop.
 * - **claim**: the one statement that picks due runs in pick order (priority, then age, lane
 *   caps counted from the runs' own statuses) and takes their leases (store/sql/claim.ts).
 * - **lease**: `(owner, epoch, expiresAt)` on a run: who may write to it until when. Taken by
 *   a claim, renewed while slow steps run, given back at commit. A lease whose time is past
 *   is free to be claimed again.
 * - **epoch**: the run's fencing token. It grows by one every time the lease changes hands
 *   (a claim, or a change that overrides the lease such as a cancellation); every write of a
 *   tick is conditional on the owner and epoch it claimed with.
 * - **wake** (`wake_at`): when a run is next due. Null while nothing can move it on (it waits
 *   for a signal, or it is finished); a time in the future while it sleeps (a timer, a retry's
 *   backoff); now or past when it has work to do.
 * - **seq**: the position of an event within its run (1, 2, 3 ...); the run row holds the
 *   last one handed out.
 * - **event id**: the global position of an event across all runs, in commit order; the
 *   cursor of the `events` subscription.
 * - **signal**: a payload sent to a step waiting for one (`signalRun`), such as an approval.
 * - **feed**: the process's one reader of new events (engine/event-feed.ts): woken after
 *   each commit (and, on PostgreSQL, by other processes' notifications), it reads what was
 *   committed past the last id it saw and hands it to the followers.
 * - **follower**: the reader behind one subscription (engine/follow.ts): its own cursor, fed
 *   by the feed while it continues that cursor exactly, and by the store otherwise.
 *
 * # Invariants
 *
 * How seq, epoch, wake time, lease and signal hold each other up; every store statement and
 * every engine system keeps these.
 *
 * 1. **One writer per run at a time.** A run's state, its steps and its seq change only in a
 *    transaction that either holds the run's lease at the epoch it claimed, from the seq it
 *    planned from (a tick's commit: `WHERE lease_owner = owner AND lease_epoch = epoch AND
 *    seq = baseSeq`, which also gives the lease back), or takes the run's row lock
 *    and raises the epoch (a cancellation, an overriding change), which fences off any tick
 *    still working on it: that tick's commit then matches no row and changes nothing.
 * 2. **Events are the history, written with the change.** Every change of a run or a step
 *    appends its events in the same transaction, numbered from the run's seq + 1; the run's
 *    seq is set to the last of them in that transaction. So seq is gapless and total per run,
 *    and an event exists exactly when its change was committed.
 * 3. **Global ids in commit order.** Event ids are handed out under the events lock (SQLite:
 *    one writer; PostgreSQL: a lock held to commit), so a reader that has seen id N never
 *    later finds a committed event below N it has not seen. Followers rely on this.
 * 4. **Due means claimable.** A run is claimed only when `wake_at <= now` and its lease is
 *    free or expired. A commit sets `wake_at` from what the run is waiting for: now (more to
 *    do), the earliest timer of its waiting steps, or null (waiting on a signal only, or
 *    finished). A lease whose holder died expires, and the run is claimed again: work is
 *    repeated, never lost, so handlers are idempotent.
 * 5. **A signal never races a tick.** `signalRun` locks the run. With no live lease it
 *    completes the step itself (its own seq, `wake_at = now`); while a tick holds the lease,
 *    that tick owns the seq, so the payload is left on the step, and the tick's commit sees it
 *    and makes the run due again (its next tick completes the step).
 * 6. **Terminal is final.** A SUCCEEDED, FAILED or CANCELLED run has no wake time and no
 *    lease, and its history ends with its terminal event; nothing writes to it again.
 */
export {};
