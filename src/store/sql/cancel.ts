/*
 * Cancelling: the write that applies a change planned outside a tick (a cancellation) to
 * a run read and locked in the same transaction, taking its lease from whoever holds it.
 * One file, because the read, the plan and the overriding write must share that lock.
 */
import type { RunChange } from "../../domain/change.ts";
import { type Db, Prisma } from "../db.ts";
import { byRun, RUN_COLUMNS, type RunRecord, rawRun, type StepRecord, toRunRecord } from "../records.ts";
import { findSteps } from "../runs.ts";
import { writeOverriding, writeOverridingMany } from "./commit-changes.ts";

/**
 * Reads a run and its steps inside a write transaction, lets `plan` decide the change,
 * and applies it while taking the run's lease away from whoever holds it (epoch + 1),
 * so that a ticker still working on the run cannot commit afterwards. Used for changes
 * made outside a tick, such as cancellation. Returns null when `plan` returns null.
 */
export async function changeRunOverridingLease(
  db: Db,
  runId: string,
  plan: (run: RunRecord, steps: StepRecord[]) => RunChange | null,
): Promise<RunChange | null> {
  return db.write(async (tx) => {
    // Locked on PostgreSQL, so a concurrent commit waits for this one instead of racing it.
    const rows = await tx.$queryRaw<Record<string, unknown>[]>`SELECT ${RUN_COLUMNS} FROM runs WHERE id = ${runId} ${db.sql.forUpdate}`;
    const row = rows[0];
    if (!row) return null;
    const change = plan(toRunRecord(rawRun(row), "now"), await findSteps(tx, [runId], "now"));
    if (!change) return null;
    await writeOverriding(db, tx, change);
    return change;
  });
}

/**
 * changeRunOverridingLease for a batch of runs (a bulk cancellation): the runs among `runIds`
 * that are not finished are read and locked together (in id order, so two batches over the
 * same runs queue instead of deadlocking), `plan` decides each one's change, and all of them
 * are written in one transaction. Returns the changes written.
 */
export async function changeRunsOverridingLeases(
  db: Db,
  runIds: readonly string[],
  plan: (run: RunRecord, steps: StepRecord[]) => RunChange | null,
): Promise<RunChange[]> {
  if (runIds.length === 0) return [];
  return db.write(async (tx) => {
    const rows = await tx.$queryRaw<Record<string, unknown>[]>`
      SELECT ${RUN_COLUMNS} FROM runs
      WHERE id IN (${Prisma.join(runIds)}) AND status NOT IN ('SUCCEEDED', 'FAILED', 'CANCELLED')
      ORDER BY id ${db.sql.forUpdate}`;
    if (rows.length === 0) return [];
    const runs = rows.map((row) => toRunRecord(rawRun(row), "now"));
    const stepsByRun = byRun(
      await findSteps(
        tx,
        runs.map((r) => r.id),
        "now",
      ),
    );
    const changes = runs.flatMap((run) => plan(run, stepsByRun.get(run.id) ?? []) ?? []);
    await writeOverridingMany(db, tx, changes);
    return changes;
  });
}
