import { Prisma } from "./generated/client.ts";

/**
 * The SQL that differs between SQLite and PostgreSQL. Everything else in store/ is
 * written once, in SQL both accept.
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
  /**
   * A run's steps, in their stable order, as one JSON text value (correlated on `runs.id`),
   * for the claim to return with each run. Null on PostgreSQL: there a claim that takes over
   * a lease re-reads the run row as the last committer left it, but a subquery in the same
   * statement still reads the statement's older snapshot, so the steps could predate the
   * run (and finished steps would run again). There they are read after the claim.
   */
  readonly stepsOfRunAsJson: Prisma.Sql | null;
  /** Names the index a query must read (SQLite's planner otherwise prefers a worse one). */
  indexedBy(index: string): Prisma.Sql;
  /** Ends the claim's pick: rows locked by a concurrent claim are passed over, not waited for. */
  readonly skipLocked: Prisma.Sql;
  /**
   * `id` is one of the ids the subquery picks. PostgreSQL plans a plain `id IN (subquery)`
   * in an UPDATE as a hash join over a scan of the whole table; `= ANY(ARRAY(...))` runs
   * the pick once and then looks the few ids up by primary key.
   */
  idIn(pick: Prisma.Sql): Prisma.Sql;
  /**
   * `loads` joined with, for each of its lanes, the rows `firstRuns` selects (a subquery
   * correlated on `loads.lane`, with a LIMIT), as `c`: PostgreSQL's LATERAL join, and on
   * SQLite (which has none) a lookup of the subquery's ids, which it runs once per lane.
   */
  firstOfEachLane(firstRuns: Prisma.Sql): Prisma.Sql;
  /** Ends a read inside a write transaction that must lock what it read. */
  readonly forUpdate: Prisma.Sql;
  /**
   * Run inside a transaction right before it inserts events, and held until it commits.
   * PostgreSQL hands out sequence values at insert but commits in any order, so without it
   * a reader could see id 11 committed while id 10 is still in flight, and skip 10 for
   * good. Under this lock ids are allocated in commit order. SQLite has one writer at a
   * time, so there the lock is the database's own.
   */
  readonly eventsLock: Prisma.Sql | null;
  /**
   * Taken by a claim of runs in capped lanes before it counts their running runs, and held
   * until it commits: claimers count one after another. SQLite's single writer already does this.
   */
  readonly lanesLock: Prisma.Sql | null;
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
  stepsOfRunAsJson: raw(`(SELECT json_group_array(json_object('id', s.id, 'position', s.position, 'type', s.type,
      'deps', json(s.deps), 'status', s.status, 'attempts', s.attempts, 'startedAt', s.started_at, 'finishedAt', s.finished_at,
      'output', json(s.output), 'error', s.error, 'wakeAt', s.wake_at, 'signal', json(s.signal),
      'signalledAt', s.signalled_at))
    FROM (SELECT * FROM steps s WHERE s.run_id = runs.id ORDER BY s.position) s)`),
  indexedBy: (index) => raw(`INDEXED BY ${index}`),
  skipLocked: Prisma.empty,
  idIn: (pick) => Prisma.sql`id IN (${pick})`,
  firstOfEachLane: (firstRuns) => Prisma.sql`loads JOIN runs c ON c.id IN (SELECT first.id FROM (${firstRuns}) AS first)`,
  forUpdate: Prisma.empty,
  eventsLock: null,
  lanesLock: null,
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
  stepsOfRunAsJson: null,
  indexedBy: () => Prisma.empty,
  skipLocked: raw("FOR UPDATE SKIP LOCKED"),
  idIn: (pick) => Prisma.sql`id = ANY(ARRAY(${pick}))`,
  firstOfEachLane: (firstRuns) => Prisma.sql`loads CROSS JOIN LATERAL (${firstRuns}) AS c`,
  forUpdate: raw("FOR UPDATE"),
  // Keyed by schema, so Forge instances in different schemas of one database do not wait on each other.
  eventsLock: raw(`SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.forge_events'))`),
  lanesLock: raw(`SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.forge_lanes'))`),
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
