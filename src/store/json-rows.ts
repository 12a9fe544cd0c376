import { Prisma } from "./db.ts";

/**
 * Batched writes pass their rows as one JSON array parameter that the database expands
 * (`FROM json_each(...) AS v`), instead of thousands of bound parameters: Prisma spends
 * far more time per bound parameter than SQLite spends parsing JSON, and the statement
 * stays the same whatever the batch size. Timestamps travel as epoch milliseconds, the
 * form the columns hold.
 */
export function jsonRows(rows: unknown[]): Prisma.Sql {
  return Prisma.sql`json_each(${JSON.stringify(rows)}) AS v`;
}

/** The value of one field of the current row of `jsonRows`. */
export function field(name: string): Prisma.Sql {
  return Prisma.raw(`(v.value ->> '${name}')`);
}

export function ms(date: Date | null): number | null {
  return date === null ? null : date.getTime();
}
