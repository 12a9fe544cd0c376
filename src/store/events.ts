import type { StoredEvent } from "../domain/event.ts";
import type { Db } from "./db.ts";
import { toStoredEvent } from "./records.ts";

/** A run's events with seq > afterSeq, in seq order. */
export async function listRunEvents(db: Db, runId: string, afterSeq: number, first: number): Promise<StoredEvent[]> {
  const rows = await db.read.event.findMany({ where: { runId, seq: { gt: afterSeq } }, orderBy: { seq: "asc" }, take: first });
  return rows.map(toStoredEvent);
}

/** Events of every run with id > afterId, in id (commit) order. */
export async function listEventsAfter(db: Db, afterId: number, first: number): Promise<StoredEvent[]> {
  const rows = await db.read.event.findMany({ where: { id: { gt: afterId } }, orderBy: { id: "asc" }, take: first });
  return rows.map(toStoredEvent);
}

/** The highest committed event id, 0 when there is none. */
export async function lastEventId(db: Db): Promise<number> {
  const row = await db.read.event.findFirst({ orderBy: { id: "desc" }, select: { id: true } });
  return row?.id ?? 0;
}
