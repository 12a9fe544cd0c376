/*
 * Committing changes: a tick's changes fenced by their leases (commitChanges), the same
 * on savepoints, by halves, once the database refuses a batch (commitEachAlone), and a
 * change written over whoever holds the lease (writeOverriding). One file, because each
 * writes a run row and then its steps, artifacts and events the same way
 * (writeStepsAndEvents), in one transaction.
 */
import type { RunChange } from "../../domain/change.ts";
import { type Db, Prisma, type Tx } from "../db.ts";
import { ms } from "../dialect.ts";
import { type Claimed, jsonOrNull, RUN_COLUMNS, type RunRecord, rawRun, type StepRecord, toRunRecord } from "../records.ts";
import { findSteps } from "../runs.ts";
import { appendEvents } from "./append-events.ts";

/**
 * Writing a tick's changes: every run's update fenced by its lease (owner, epoch) and by
 * the seq the tick read, its steps, artifacts and events, in one transaction.
 *
 * commitChanges commits the changes of several runs together and releases their leases.
 * It returns the ids committed; a run whose lease was lost is left untouched.
 */
export async function commitChanges(db: Db, changes: RunChange[]): Promise<Set<string>> {
  if (changes.length === 0) return new Set();
  return db.write((tx) => commitInTx(db, tx, changes));
}

async function commitInTx(db: Db, tx: Tx, changes: RunChange[]): Promise<Set<string>> {
  const { rows, text, int, time } = db.sql;
  const runs = changes.map((c) => ({
    runId: c.runId,
    owner: c.owner,
    epoch: c.epoch,
    baseSeq: c.baseSeq,
    seq: c.baseSeq + c.events.length,
    status: c.run.status,
    startedAt: ms(c.run.startedAt),
    finishedAt: ms(c.run.finishedAt),
    updatedAt: ms(c.run.updatedAt),
    wakeAt: ms(c.run.wakeAt),
  }));
  const updated = await tx.$queryRaw<Array<{ id: string }>>`
    UPDATE runs SET status = ${text("status")}, seq = ${int("seq")}, started_at = ${time("startedAt")},
      finished_at = ${time("finishedAt")}, updated_at = ${time("updatedAt")}, wake_at = ${time("wakeAt")},
      lease_owner = NULL, lease_expires_at = NULL, commit_failures = 0
    FROM ${rows(runs)}
    WHERE runs.id = ${text("runId")} AND runs.lease_owner = ${text("owner")} AND runs.lease_epoch = ${int("epoch")}
      AND runs.seq = ${int("baseSeq")}
    RETURNING runs.id`;
  const committed = new Set(updated.map((r) => r.id));
  const written = changes.filter((c) => committed.has(c.runId));
  // A signal that signalRun left on a step while this tick held the lease: the run is due again.
  const awaiting = written.filter((c) => c.awaitsSignal);
  if (awaiting.length > 0) {
    await tx.$executeRaw`
      UPDATE runs SET wake_at = ${(awaiting[0] as RunChange).run.updatedAt}
      WHERE id IN (${Prisma.join(awaiting.map((c) => c.runId))})
        AND EXISTS (SELECT 1 FROM steps s WHERE s.run_id = runs.id AND s.status = 'WAITING' AND s.signalled_at IS NOT NULL)`;
  }
  await writeStepsAndEvents(db, tx, written);
  return committed;
}

/** Writes the step updates and appends the events of changes whose run row is already written. */
export async function writeStepsAndEvents(db: Db, tx: Tx, changes: RunChange[]): Promise<void> {
  const { rows, text, int, time } = db.sql;
  const steps = changes.flatMap((c) =>
    c.steps.map((s) => ({
      runId: c.runId,
      id: s.id,
      status: s.status,
      attempts: s.attempts,
      startedAt: ms(s.startedAt),
      finishedAt: ms(s.finishedAt),
      output: jsonOrNull(s.output),
      error: s.error,
      wakeAt: ms(s.wakeAt),
    })),
  );
  if (steps.length > 0) {
    await tx.$executeRaw`
      UPDATE steps SET status = ${text("status")}, attempts = ${int("attempts")}, started_at = ${time("startedAt")},
        finished_at = ${time("finishedAt")}, output = ${text("output")}, error = ${text("error")},
        wake_at = ${time("wakeAt")}
      FROM ${rows(steps)}
      WHERE steps.run_id = ${text("runId")} AND steps.id = ${text("id")}`;
  }
  const artifacts = changes.flatMap((c) => (c.artifacts ?? []).map((a) => ({ ...a, runId: c.runId, createdAt: a.createdAt.getTime() })));
  if (artifacts.length > 0) {
    await tx.$executeRaw`
      INSERT INTO artifacts (run_id, step_id, name, content_type, size, sha256, content, created_at)
      SELECT ${text("runId")}, ${text("stepId")}, ${text("name")}, ${text("contentType")}, ${int("size")}, ${text("sha256")},
        ${text("content")}, ${time("createdAt")}
      FROM ${rows(artifacts)} ORDER BY v.key`;
  }
  await appendEvents(db, tx, changes);
}

/** A claimed run to commit alone: its change, or the error its advance failed with. */
export interface AloneItem extends Claimed {
  /** Refusals in a row before this tick (the claim read them with the run). */
  commitFailures: number;
  change?: RunChange;
  error?: unknown;
  /** Its change was in a batch whose commit the database just refused (with others). */
  inRefusedBatch?: boolean;
}

/** A run whose change the database refused (or whose advance failed), with why. */
export interface Refused extends Claimed {
  error: unknown;
}

/** What to do with a run the database keeps refusing (the engine decides; see engine/commit.ts). */
export interface RefusalPolicy {
  /** The lease the refused changes were made under. */
  owner: string;
  /** Refusals in a row after which the run is given up. */
  budget: number;
  /** When a run refused `failures` times in a row is due again. */
  retryAt(failures: number): Date;
  /**
   * Whether a refusal counts against the run: one about the run's own changes does; one
   * about the database's state (a lock that timed out, a full disk) does not, or a passing
   * fault would fail every run it touched.
   */
  counts(error: unknown): boolean;
  /**
   * The changes that fail the run for good, planned from the run as stored: tried in order
   * until one is written (the whole run first, then the run without its steps, in case the
   * database refuses those too).
   */
  giveUp(run: RunRecord, steps: StepRecord[], error: unknown): RunChange[];
}

export interface IsolatedCommit {
  committed: Set<string>;
  refused: Refused[];
  /** The refused runs that used up their budget and were failed for good (run_failed written). */
  gaveUp: Set<string>;
}

/**
 * Commits each change on a savepoint, in one transaction: a change the database refuses is
 * rolled back alone, and every other run's change still lands with the one commit. The
 * changes of a refused batch are committed by halves, each half halved again only if it is
 * refused in turn, so one refused change among a hundred costs about fourteen group writes
 * rather than a hundred single ones; a run refused before is tried alone at once. A refused
 * run (and one whose advance failed) has its refusals counted on its row,
 * fenced by its lease, its lease released and its next try put off; once the count reaches
 * the budget it is failed for good, in the same transaction. So the runs of a batch whose
 * commit failed, and runs refused before, cost one more commit, not one per run.
 *
 * A transaction that cannot be committed at all (the database is unreachable) counts
 * nothing: its error goes to the caller, as for any commit.
 */
export async function commitEachAlone(db: Db, items: AloneItem[], policy: RefusalPolicy): Promise<IsolatedCommit> {
  return db.write(async (tx) => {
    const committed = new Set<string>();
    const refused: Array<Refused & { failures: number }> = [];
    const refuse = (item: AloneItem, error: unknown) =>
      refused.push({ runId: item.runId, epoch: item.epoch, error, failures: item.commitFailures + 1 });
    /** Commits `group` on a savepoint or, refused (or known to be), each of its halves the same way. */
    const byHalves = async (group: AloneItem[], refusedWhole: boolean): Promise<void> => {
      if (group.length === 0) return;
      if (!refusedWhole) {
        const outcome = await onSavepoint(tx, () =>
          commitInTx(
            db,
            tx,
            group.map((item) => item.change as RunChange),
          ),
        );
        if (outcome.ok) {
          for (const id of outcome.value) committed.add(id);
          return;
        }
        if (group.length === 1) return void refuse(group[0] as AloneItem, outcome.error);
      }
      const half = Math.ceil(group.length / 2);
      await byHalves(group.slice(0, half), false);
      await byHalves(group.slice(half), false);
    };
    const batch: AloneItem[] = [];
    for (const item of items) {
      if (!item.change) refuse(item, item.error);
      else if (item.inRefusedBatch && item.commitFailures === 0) batch.push(item);
      else await byHalves([item], false);
    }
    await byHalves(batch, true);
    const gaveUp = new Set<string>();
    for (const r of refused) {
      const failures = policy.counts(r.error) ? r.failures : r.failures - 1;
      const rows = await tx.$queryRaw<Record<string, unknown>[]>`
        UPDATE runs SET commit_failures = ${failures}, lease_owner = NULL, lease_expires_at = NULL,
          wake_at = ${policy.retryAt(r.failures)}
        WHERE id = ${r.runId} AND lease_owner = ${policy.owner} AND lease_epoch = ${r.epoch}
        RETURNING ${RUN_COLUMNS}`;
      const row = rows[0];
      // (It was claimed, so it was due: its wake time only moves later.) No row: the lease
      // changed hands (a cancellation, an expiry), and the run is someone else's now.
      if (!row || failures < policy.budget) continue;
      const run = toRunRecord(rawRun(row), "now");
      let written = false;
      for (const change of policy.giveUp(run, await findSteps(tx, [run.id], "now"), r.error)) {
        if (!(await onSavepoint(tx, () => writeOverriding(db, tx, change))).ok) continue;
        written = true;
        // A change without events only parked a run that was finished already: nothing was failed.
        if (change.events.length > 0) gaveUp.add(run.id);
        break;
      }
      // Even failing it was refused: it is not picked again (it stays as it is, with its
      // refusals counted, for an operator to look at) rather than run its steps forever.
      if (!written) await onSavepoint(tx, () => tx.$executeRaw`UPDATE runs SET wake_at = NULL WHERE id = ${run.id}`);
    }
    return { committed, refused: refused.map(({ failures: _f, ...r }) => r), gaveUp };
  });
}

/** Runs `fn` on a savepoint: what it wrote is kept when it succeeds, rolled back alone when it throws. */
async function onSavepoint<T>(tx: Tx, fn: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  await tx.$executeRawUnsafe("SAVEPOINT forge_run");
  try {
    const value = await fn();
    await tx.$executeRawUnsafe("RELEASE SAVEPOINT forge_run");
    return { ok: true, value };
  } catch (error) {
    await tx.$executeRawUnsafe("ROLLBACK TO SAVEPOINT forge_run");
    await tx.$executeRawUnsafe("RELEASE SAVEPOINT forge_run");
    return { ok: false, error };
  }
}

/**
 * Applies a change planned outside a tick (a cancellation, giving up on a run), taking the
 * run's lease away from whoever holds it (epoch + 1) so that a ticker still working on the
 * run cannot commit afterwards. Fenced by the seq the change was planned from.
 */
export async function writeOverriding(db: Db, tx: Tx, change: RunChange): Promise<void> {
  const updated = await tx.$executeRaw`
    UPDATE runs SET status = ${change.run.status}, seq = ${change.baseSeq + change.events.length},
      started_at = ${change.run.startedAt}, finished_at = ${change.run.finishedAt}, updated_at = ${change.run.updatedAt},
      wake_at = ${change.run.wakeAt}, lease_owner = NULL, lease_expires_at = NULL, lease_epoch = lease_epoch + 1
    WHERE id = ${change.runId} AND seq = ${change.baseSeq}`;
  if (updated !== 1) throw new Error(`run "${change.runId}" changed while it was being updated`);
  await writeStepsAndEvents(db, tx, [change]);
}

/**
 * writeOverriding for many runs at once (a bulk cancellation): one statement per table for
 * the whole batch. The runs must be locked by the caller's transaction (read FOR UPDATE on
 * PostgreSQL; SQLite has one writer), so the seq they were planned from still holds.
 */
export async function writeOverridingMany(db: Db, tx: Tx, changes: RunChange[]): Promise<void> {
  if (changes.length === 0) return;
  const { rows, text, int, time } = db.sql;
  const runs = changes.map((c) => ({
    runId: c.runId,
    baseSeq: c.baseSeq,
    seq: c.baseSeq + c.events.length,
    status: c.run.status,
    startedAt: ms(c.run.startedAt),
    finishedAt: ms(c.run.finishedAt),
    updatedAt: ms(c.run.updatedAt),
    wakeAt: ms(c.run.wakeAt),
  }));
  const updated = await tx.$executeRaw`
    UPDATE runs SET status = ${text("status")}, seq = ${int("seq")}, started_at = ${time("startedAt")},
      finished_at = ${time("finishedAt")}, updated_at = ${time("updatedAt")}, wake_at = ${time("wakeAt")},
      lease_owner = NULL, lease_expires_at = NULL, lease_epoch = lease_epoch + 1
    FROM ${rows(runs)}
    WHERE runs.id = ${text("runId")} AND runs.seq = ${int("baseSeq")}`;
  if (updated !== changes.length)
    throw new Error(`${changes.length - updated} of ${changes.length} runs changed while they were being updated`);
  await writeStepsAndEvents(db, tx, changes);
}
