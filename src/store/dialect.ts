import { Prisma } from "./generated/client.ts";

/**
 * The SQL that differs between SQLite and PostgreSQL wherever it is used: the pieces many
 * statements share. What differs for one statement family only sits beside that statement
 * (sql/claim.ts, sql/append-events.ts). Everything else in store/ is written once, in SQL
 * both accept.
 *
 * Batched writes pass their rows as one JSON array parameter that the database expands
 * (`FROM rows(...) AS v`, `v.key` being the row's index), instead of thousands of bound
 * parameters: Prisma spends far more time per bound parameter than the database spends
 * parsing JSON, and the statement stays the same whatever the batch size. Timestamps
 * travel as epoch milliseconds.
 */
export interface Dialect {
  readonly name: "sqlite" | "postgres";
  /** A FROM-clause source over a JSON array of row objects, aliased `v`, in array order by `v.key`. */
  rows(rows: unknown[]): Prisma.Sql;
  /** A text field of the current `rows` row. */
  text(name: string): Prisma.Sql;
  /** An integer field of the current `rows` row. */
  int(name: string): Prisma.Sql;
  /** A timestamp field (epoch milliseconds in the JSON) of the current `rows` row. */
  time(name: string): Prisma.Sql;
  /** Names the index a query must read (SQLite's planner otherwise prefers a worse one). */
  indexedBy(index: string): Prisma.Sql;
  /** Ends a read inside a write transaction that must lock what it read. */
  readonly forUpdate: Prisma.Sql;
  /**
   * Run first in every migration transaction: serializes migrations from processes starting
   * at once, and lifts the statement timeout (an index build may take long).
   */
  readonly migrationStart: Prisma.Sql[];
}

const raw = Prisma.raw;
const sqliteField = (name: string) => raw(`(v.value ->> '${fieldName(name)}')`);

export const sqlite: Dialect = {
  name: "sqlite",
  rows: (rows) => Prisma.sql`json_each(${JSON.stringify(rows)}) AS v`,
  text: sqliteField,
  int: sqliteField,
  // The columns hold epoch milliseconds already.
  time: sqliteField,
  indexedBy: (index) => raw(`INDEXED BY ${index}`),
  forUpdate: Prisma.empty,
  migrationStart: [],
};

const pgField = (name: string) => `(v.value ->> '${fieldName(name)}')`;

export const postgres: Dialect = {
  name: "postgres",
  // jsonb: parsed once, then each field is a lookup (on json, every ->> re-reads the text).
  // jsonb refuses NUL and lone surrogates; every text Forge writes is checked for both
  // first (API input in domain/run-input.ts and api/well-formed.ts, what handlers produce
  // in engine/attempt.ts), so a batch never fails on them.
  rows: (rows) => Prisma.sql`jsonb_array_elements(${JSON.stringify(rows)}::jsonb) WITH ORDINALITY AS v(value, key)`,
  text: (name) => raw(pgField(name)),
  int: (name) => raw(`${pgField(name)}::integer`),
  // Exact to the millisecond (no floating-point seconds on the way).
  time: (name) => raw(`('epoch'::timestamp + ${pgField(name)}::bigint * interval '1 millisecond')`),
  indexedBy: () => Prisma.empty,
  forUpdate: raw("FOR UPDATE"),
  // Keyed by schema, so Forge instances in different schemas of one database do not wait on each other.
  migrationStart: [
    raw(`SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.forge_migrations'))`),
    raw("SET LOCAL statement_timeout = 0"),
  ],
};

/** Field names are spliced into SQL: only plain identifiers are accepted. */
function fieldName(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`not a field name: ${name}`);
  return name;
}

export function ms(date: Date | null): number | null {
  return date === null ? null : date.getTime();
}
