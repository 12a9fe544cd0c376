import type { StoredEvent } from "../domain/event.ts";
import type { Graph } from "../domain/graph.ts";
import type { RunMode, RunStatus, StepStatus } from "../domain/status.ts";
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
}

export interface StepRecord {
  runId: string;
  id: string;
  position: number;
  type: string;
  deps: string[];
  status: StepStatus;
  attempts: number;
  startedAt: Date | null;
  finishedAt: Date | null;
  output: unknown;
  error: string | null;
}

export function toRunRecord(row: Run): RunRecord {
  return {
    ...row,
    mode: row.mode as RunMode,
    status: row.status as RunStatus,
    graph: JSON.parse(row.graph) as Graph,
    params: JSON.parse(row.params) as Record<string, unknown>,
  };
}

export function toStepRecord(row: Step): StepRecord {
  return {
    ...row,
    status: row.status as StepStatus,
    deps: JSON.parse(row.deps) as string[],
    output: row.output === null ? null : JSON.parse(row.output),
  };
}

export function toStoredEvent(row: Event): StoredEvent {
  return { ...row, data: row.data === null ? null : JSON.parse(row.data) };
}

/** JSON text for a nullable JSON column: `undefined` and `null` are both stored as NULL. */
export function jsonOrNull(value: unknown): string | null {
  return value === undefined || value === null ? null : JSON.stringify(value);
}
