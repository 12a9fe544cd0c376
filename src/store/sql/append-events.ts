/*
 * Appending events: the two inserts into `events` (a tick's or a change's events, and the
 * first event of each new run) and the lock taken before them. One file, because global
 * event ids are only in commit order if every insert takes that lock right before it.
 */
import type { RunChange } from "../../domain/change.ts";
import { type Db, Prisma, type Tx } from "../db.ts";
import { type Dialect, ms } from "../dialect.ts";
import type { PrismaClient } from "../generated/client.ts";
import { jsonOrNull, type NewRunRows } from "../records.ts";

/**
 * Run inside a transaction right before it inserts events, and held until it commits.
 * PostgreSQL hands out sequence values at insert but commits in any order, so without it
 * a reader could see id 11 committed while id 10 is still in flight, and skip 10 for
 * good. Under this lock ids are allocated in commit order. SQLite has one writer at a
 * time, so there the lock is the database's own.
 */
const eventsLocks: { readonly [name in Dialect["name"]]: Prisma.Sql | null } = {
  sqlite: null,
  // Keyed by schema, so Forge instances in different schemas of one database do not wait on each other.
  postgres: Prisma.raw(`SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.forge_events'))`),
};

/** The events lock of `db`'s dialect, or null where the database's own write lock serves. */
export function eventsLock(db: Db): Prisma.Sql | null {
  return eventsLocks[db.dialect];
}

/** Appends the events of changes whose run row is already written, each run's after the seq the change was planned from. */
export async function appendEvents(db: Db, tx: Tx, changes: ReadonlyArray<Pick<RunChange, "runId" | "baseSeq" | "events">>): Promise<void> {
  const { rows, text, int, time } = db.sql;
  const events = changes.flatMap((c) =>
    c.events.map((e, i) => ({
      runId: c.runId,
      seq: c.baseSeq + i + 1,
      type: e.type,
      stepId: e.stepId,
      data: jsonOrNull(e.data),
      createdAt: e.createdAt.getTime(),
    })),
  );
  if (events.length > 0) {
    // Last statement of the transaction: the events lock is held from here to the commit.
    const lock = eventsLock(db);
    if (lock) await tx.$executeRaw(lock);
    // Inserted in array order, so within a run global ids follow seq.
    await tx.$executeRaw`
      INSERT INTO events (run_id, seq, type, step_id, data, created_at)
      SELECT ${text("runId")}, ${int("seq")}, ${text("type")}, ${text("stepId")}, ${text("data")}, ${time("createdAt")}
      FROM ${rows(events)} ORDER BY v.key`;
  }
}

/** Every first event is seq 1, in the order the runs were given. */
export function appendFirstEvents(db: Db, w: PrismaClient | Tx, items: NewRunRows[]) {
  const events = items.map(({ run, event }) => ({ ...event, runId: run.id, data: jsonOrNull(event.data), createdAt: ms(event.createdAt) }));
  const { rows, text, time } = db.sql;
  return w.$executeRaw`INSERT INTO events (run_id, seq, type, step_id, data, created_at)
      SELECT ${text("runId")}, 1, ${text("type")}, ${text("stepId")}, ${text("data")}, ${time("createdAt")}
      FROM ${rows(events)} ORDER BY v.key`;
}
