import type { StepUpdate } from "../domain/change.ts";
import type { NewEvent, StoredEvent } from "../domain/event.ts";
import type { Graph } from "../domain/graph.ts";
import type { Policy } from "../domain/policy.ts";
import type { RunMode, RunStatus, StepStatus } from "../domain/status.ts";
import { Prisma } from "./db.ts";
import type { Event, Run, Step } from "./generated/client.ts";

/** A run as the rest of Forge sees it: JSON columns parsed, statuses typed. */
export interface RunRecord {
  id: string;
  mode: RunMode;
  jobType: string;
  lane: string;
  requestedBy: string;
  priority: number;
  status: RunStatus;
  graph: Graph;
  params: Record<string, unknown>;
  idempotencyKey: string | null;
  inputHash: string;
  createdAt: Date;
  updatedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  /** The seq of the run's last event; also its event count. */
  seq: number;
  leaseOwner: string | null;
  leaseEpoch: number;
  leaseExpiresAt: Date | null;
  /** Set while the scheduler should pick the run at or after this instant. */
  wakeAt: Date | null;
  /** The job type's policy when the run was created. */
  policy: Policy;
  /** That policy's cap on RUNNING runs of the run's lane (null: none). */
  laneCap: number | null;
  /** Commits of the run's changes the database refused in a row (src/engine/commit.ts). */
  commitFailures: number;
  /** The run this one re-runs (rerunRun); null for runs created by createRun(s). */
  rerunOf: string | null;
  /** The newest run made from this one by rerunRun(s), even once that run is pruned; null when none was. */
  latestRerun: string | null;
}

/** A step as stored: its written state (StepUpdate) plus where it sits in the graph. */
export interface StepRecord extends StepUpdate {
  runId: string;
  position: number;
  type: string;
  deps: string[];
  /** A payload signalRun delivered that no tick has taken up yet (see signalledAt). */
  signal: unknown;
  /** When a signal was delivered; null when none was. */
  signalledAt: Date | null;
}

/** A run to insert: everything but its lease, which starts free (no owner, epoch 0). */
export type NewRun = Omit<RunRecord, "leaseOwner" | "leaseEpoch" | "leaseExpiresAt">;
/** A step to insert: where it sits in the graph and its first status; the rest starts empty (no attempts yet). */
export type NewStep = Pick<StepRecord, "runId" | "id" | "position" | "type" | "deps" | "status">;

/** A run to create, with its steps and its first event. */
export interface NewRunRows {
  run: NewRun;
  steps: NewStep[];
  event: NewEvent;
}

/**
 * Leases and the writes made under them.
 *
 * A lease is (owner, epoch, expiresAt) on the run row. Claiming is one conditional
 * update: free or expired -> mine, epoch + 1. Every write a ticker makes is conditional
 * on owner and epoch (and on the run's seq being what the ticker read), so a ticker whose
 * lease expired and changed hands matches no row and commits nothing for that run.
 */
export interface Claimed {
  runId: string;
  epoch: number;
}

/**
 * How a record's JSON columns are parsed: `lazily` (when first read) for what the API
 * answers, `now` for the engine, which reads them all anyway; a lazy column costs a
 * property accessor and a stored length per record, about a fifth of a noop tick's CPU.
 */
export type JsonParsing = "lazily" | "now";

export function toRunRecord(row: Run, parsing: JsonParsing = "lazily"): RunRecord {
  if (parsing === "now") {
    return {
      ...row,
      mode: row.mode as RunMode,
      status: row.status as RunStatus,
      graph: JSON.parse(row.graph) as Graph,
      params: JSON.parse(row.params) as Record<string, unknown>,
      policy: JSON.parse(row.policy) as Policy,
    };
  }
  const { graph, params, policy, ...rest } = row;
  const record = { ...rest, mode: row.mode as RunMode, status: row.status as RunStatus } as RunRecord;
  jsonColumn(record, "graph", graph);
  jsonColumn(record, "params", params);
  jsonColumn(record, "policy", policy);
  return record;
}

export function toStepRecord(row: Step, parsing: JsonParsing = "lazily"): StepRecord {
  if (parsing === "now") {
    return {
      ...row,
      status: row.status as StepStatus,
      deps: JSON.parse(row.deps) as string[],
      output: row.output === null ? null : JSON.parse(row.output),
      signal: row.signal === null ? null : JSON.parse(row.signal),
    };
  }
  const { output, signal, ...rest } = row;
  const record = { ...rest, status: row.status as StepStatus, deps: JSON.parse(row.deps) as string[] } as StepRecord;
  jsonColumn(record, "output", output);
  jsonColumn(record, "signal", signal);
  return record;
}

export function toStoredEvent(row: Omit<Event, "id"> & { id: number }): StoredEvent {
  const { data, ...rest } = row;
  const event = { ...rest } as StoredEvent;
  jsonColumn(event, "data", data);
  return event;
}

/**
 * The JSON text columns of a record are parsed when first read, not when the row is: a
 * query can name runs whose graphs or params hold megabytes it never asks for, and what an
 * answer will cost must be known (storedJsonLength) before the value is built (the answer
 * budget of api/answer-budget.ts). A value set on the record replaces the stored one.
 */
const storedLengths = new WeakMap<object, Map<string, number>>();

function jsonColumn(record: object, key: string, text: string | null): void {
  let lengths = storedLengths.get(record);
  if (!lengths) {
    lengths = new Map();
    storedLengths.set(record, lengths);
  }
  lengths.set(key, text?.length ?? 0);
  let parsed = false;
  let value: unknown = null;
  Object.defineProperty(record, key, {
    enumerable: true,
    configurable: true,
    get() {
      if (!parsed) {
        value = text === null ? null : JSON.parse(text);
        parsed = true;
      }
      return value;
    },
    set(replacement: unknown) {
      value = replacement;
      parsed = true;
      storedLengths.get(record)?.delete(key);
    },
  });
}

/** The length of the JSON text a record's field was read from, or undefined when it was not read from the database (or was replaced). */
export function storedJsonLength(record: object, key: string): number | undefined {
  return storedLengths.get(record)?.get(key);
}

/**
 * A global id (events.id, artifacts.id: 64-bit columns) as the number Forge carries it in.
 * JavaScript numbers are exact up to 2^53, which at a million events a second lasts 285
 * years; an id past that is refused loudly rather than rounded into another event's id.
 */
export function toGlobalId(value: unknown): number {
  const id = Number(value);
  if (!Number.isSafeInteger(id)) throw new Error(`global id ${String(value)} is past 2^53, the largest Forge can carry exactly`);
  return id;
}

/** Groups rows by run id. */
export function byRun<T extends { runId: string }>(rows: T[]): Map<string, T[]> {
  const grouped = new Map<string, T[]>();
  for (const row of rows) {
    const list = grouped.get(row.runId);
    if (list) list.push(row);
    else grouped.set(row.runId, [row]);
  }
  return grouped;
}

/** JSON text for a nullable JSON column: `undefined` and `null` are both stored as NULL. */
export function jsonOrNull(value: unknown): string | null {
  return value === undefined || value === null ? null : JSON.stringify(value);
}

/*
 * Hot-path reads select with raw SQL: Prisma's model queries cost about 0.1 ms per row
 * to map here (a 100-run tick spent 25 ms reading its runs and steps), raw rows a tenth
 * of that. The column lists below alias every column to its model field name, so a raw
 * row has the model's shape once its timestamps are Dates.
 */
export const RUN_COLUMNS =
  Prisma.raw(`id, mode, job_type AS "jobType", lane, requested_by AS "requestedBy", priority, status, graph, params,
  idempotency_key AS "idempotencyKey", input_hash AS "inputHash", created_at AS "createdAt", updated_at AS "updatedAt",
  started_at AS "startedAt", finished_at AS "finishedAt", seq, lease_owner AS "leaseOwner", lease_epoch AS "leaseEpoch",
  lease_expires_at AS "leaseExpiresAt", wake_at AS "wakeAt", policy, lane_cap AS "laneCap", commit_failures AS "commitFailures",
  rerun_of AS "rerunOf", latest_rerun AS "latestRerun"`);

export const STEP_COLUMNS = Prisma.raw(`run_id AS "runId", id, position, type, deps, status, attempts,
  started_at AS "startedAt", finished_at AS "finishedAt", output, error, wake_at AS "wakeAt", signal,
  signalled_at AS "signalledAt"`);

export const EVENT_COLUMNS = Prisma.raw(`id, run_id AS "runId", seq, type, step_id AS "stepId", data, created_at AS "createdAt"`);

/** A timestamp from a raw row (the driver may hand back a Date, an ISO string or epoch milliseconds). */
function toDate(value: unknown): Date {
  return value instanceof Date ? value : new Date(typeof value === "string" || typeof value === "number" ? value : Number(value));
}

export function toDateOrNull(value: unknown): Date | null {
  return value === null || value === undefined ? null : toDate(value);
}

export function rawRun(row: Record<string, unknown>): Run {
  return {
    ...(row as unknown as Run),
    priority: Number(row.priority),
    seq: Number(row.seq),
    leaseEpoch: Number(row.leaseEpoch),
    laneCap: row.laneCap === null || row.laneCap === undefined ? null : Number(row.laneCap),
    commitFailures: Number(row.commitFailures ?? 0),
    rerunOf: (row.rerunOf as string | null | undefined) ?? null,
    latestRerun: (row.latestRerun as string | null | undefined) ?? null,
    createdAt: toDate(row.createdAt),
    updatedAt: toDate(row.updatedAt),
    startedAt: toDateOrNull(row.startedAt),
    finishedAt: toDateOrNull(row.finishedAt),
    leaseExpiresAt: toDateOrNull(row.leaseExpiresAt),
    wakeAt: toDateOrNull(row.wakeAt),
  };
}

export function rawStep(row: Record<string, unknown>): Step {
  return {
    ...(row as unknown as Step),
    position: Number(row.position),
    attempts: Number(row.attempts),
    startedAt: toDateOrNull(row.startedAt),
    finishedAt: toDateOrNull(row.finishedAt),
    wakeAt: toDateOrNull(row.wakeAt),
    signalledAt: toDateOrNull(row.signalledAt),
  };
}

export function rawEvent(row: Record<string, unknown>): Omit<Event, "id"> & { id: number } {
  return { ...(row as unknown as Event), id: toGlobalId(row.id), seq: Number(row.seq), createdAt: toDate(row.createdAt) };
}
