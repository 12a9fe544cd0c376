import { type Db, Prisma } from "./db.ts";
import { toDateOrNull, toGlobalId } from "./records.ts";

/** An artifact without its content (listed with a run; the content is read on demand). */
export interface ArtifactRecord {
  id: number;
  runId: string;
  stepId: string | null;
  name: string;
  contentType: string;
  size: number;
  sha256: string;
  createdAt: Date;
}

/** The artifacts of the given runs, each run's in the order they were written. */
export async function listArtifacts(db: Db, runIds: string[]): Promise<ArtifactRecord[]> {
  if (runIds.length === 0) return [];
  const rows = await db.read.$queryRaw<Record<string, unknown>[]>`
    SELECT id, run_id AS "runId", step_id AS "stepId", name, content_type AS "contentType", size, sha256, created_at AS "createdAt"
    FROM artifacts WHERE run_id IN (${Prisma.join(runIds)}) ORDER BY run_id, id`;
  return rows.map((row) => ({
    ...(row as unknown as ArtifactRecord),
    id: toGlobalId(row.id),
    size: Number(row.size),
    createdAt: toDateOrNull(row.createdAt) as Date,
  }));
}

/** The content of artifacts by id. */
export async function artifactContents(db: Db, ids: number[]): Promise<Map<number, string>> {
  if (ids.length === 0) return new Map();
  const rows = await db.read.$queryRaw<Array<{ id: unknown; content: string }>>`
    SELECT id, content FROM artifacts WHERE id IN (${Prisma.join(ids)})`;
  return new Map(rows.map((r) => [toGlobalId(r.id), r.content]));
}
