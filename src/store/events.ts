import type { StoredEvent } from "../domain/event.ts";
import type { Db } from "./db.ts";
import { EVENT_COLUMNS, rawEvent, toGlobalId, toStoredEvent } from "./records.ts";

/** A run's events with seq > afterSeq, in seq order. */
export async function listRunEvents(db: Db, runId: string, afterSeq: number, first: number): Promise<StoredEvent[]> {
  const rows = await db.read.$queryRaw<Record<string, unknown>[]>`
    SELECT ${EVENT_COLUMNS} FROM events WHERE run_id = ${runId} AND seq > ${afterSeq} ORDER BY seq LIMIT ${first}`;
  return rows.map((row) => toStoredEvent(rawEvent(row)));
}

/** Events of every run with id > afterId, in id (commit) order. */
export async function listEventsAfter(db: Db, afterId: number, first: number): Promise<StoredEvent[]> {
  const rows = await db.read.$queryRaw<Record<string, unknown>[]>`
    SELECT ${EVENT_COLUMNS} FROM events WHERE id > ${afterId} ORDER BY id LIMIT ${first}`;
  return rows.map((row) => toStoredEvent(rawEvent(row)));
}

/** The highest committed event id, 0 when there is none. */
export async function lastEventId(db: Db): Promise<number> {
  const row = await db.read.event.findFirst({ orderBy: { id: "desc" }, select: { id: true } });
  return row ? toGlobalId(row.id) : 0;
}
