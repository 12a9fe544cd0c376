import { gql, type TypedDocumentNode } from "@urql/core";

/**
 * The GraphQL operations the dashboard sends, with the shapes of their answers as
 * schema.graphql declares them. Every operation goes through Forge's public API.
 */

export type RunStatus = "PENDING" | "RUNNING" | "SUCCEEDED" | "FAILED" | "CANCELLED";
export type StepStatus = "PENDING" | "RUNNING" | "WAITING" | "SUCCEEDED" | "FAILED" | "SKIPPED" | "CANCELLED";
export const RUN_STATUSES: readonly RunStatus[] = ["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"];
/** The statuses a run ends in: the only ones re-run and retention act on. */
export const TERMINAL_STATUSES: readonly RunStatus[] = ["SUCCEEDED", "FAILED", "CANCELLED"];

export type WaitReason =
  | "QUEUED"
  | "LEASED"
  | "LANE_CAP"
  | "CONCURRENCY_KEY"
  | "RATE_LIMIT"
  | "PAUSED"
  | "TIMER"
  | "RETRY_BACKOFF"
  | "SIGNAL"
  | "TASK"
  | "CHILD_RUN";

/** Why a run that has not ended is not moving: `detail` is one sentence for a person, `until` when it will move by itself. */
export interface Waiting {
  __typename?: "Waiting";
  reason: WaitReason;
  until: string | null;
  detail: string;
}

export interface RunRow {
  __typename?: "Run";
  id: string;
  status: RunStatus;
  jobType: string;
  lane: string;
  requestedBy: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** Null once the run ended, or while a tick advances it. */
  waiting: Waiting | null;
}

export interface StepState {
  __typename?: "Step";
  id: string;
  stepId: string;
  type: string;
  deps: string[];
  status: StepStatus;
  attempts: number;
  startedAt: string | null;
  finishedAt: string | null;
  output: unknown;
  error: string | null;
}

export interface Artifact {
  id: string;
  stepId: string | null;
  name: string;
  contentType: string;
  size: number;
  sha256: string;
  createdAt: string;
}

export interface RunDetail extends RunRow {
  mode: "LIVE" | "DRY_RUN";
  /** The run this one re-runs. */
  rerunOf: string | null;
  /** The runs made from this one by rerunRun, oldest first. */
  reruns: string[];
  priority: number;
  params: unknown;
  eventCount: number;
  lease: { owner: string; epoch: number; expiresAt: string } | null;
  steps: StepState[];
  artifacts: Artifact[];
}

export interface RunEvent {
  id: string;
  runId: string;
  seq: number;
  type: string;
  stepId: string | null;
  data: unknown;
  createdAt: string;
}

export interface WorkerStatus {
  enabled: boolean;
  running: boolean;
  workerId: string | null;
  ticks: number;
  lastTickAt: string | null;
  queueDepth: number;
  oldestQueuedAt: string | null;
  lanes: Array<{ lane: string; depth: number; oldestQueuedAt: string | null }>;
  workers: Array<{ id: string; startedAt: string; heartbeatAt: string; ticks: number; lastTickAt: string | null }>;
}

const RUN_ROW = `
  id status jobType lane requestedBy createdAt startedAt finishedAt
  waiting { reason until detail }
`;

export interface RunsVariables {
  first: number;
  after?: string | null;
  status?: RunStatus | null;
  jobType?: string | null;
  lane?: string | null;
}

export const RUNS: TypedDocumentNode<
  {
    runs: {
      edges: Array<{ cursor: string; node: RunRow }>;
      pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; endCursor: string | null };
    };
  },
  RunsVariables
> = gql`
  query DashboardRuns($first: Int!, $after: String, $status: RunStatus, $jobType: String, $lane: String) {
    runs(first: $first, after: $after, status: $status, jobType: $jobType, lane: $lane) {
      edges { cursor node { ${RUN_ROW} } }
      pageInfo { hasNextPage hasPreviousPage endCursor }
    }
  }
`;

export const RUN: TypedDocumentNode<{ run: RunDetail | null }, { id: string }> = gql`
  query DashboardRun($id: ID!) {
    run(id: $id) {
      ${RUN_ROW}
      mode priority params eventCount rerunOf reruns
      lease { owner epoch expiresAt }
      steps { id stepId type deps status attempts startedAt finishedAt output error }
      artifacts { id stepId name contentType size sha256 createdAt }
    }
  }
`;

export const ARTIFACT_CONTENT: TypedDocumentNode<
  { run: { id: string; artifacts: Array<{ id: string; content: string | null }> } | null },
  { id: string }
> = gql`
  query DashboardArtifactContent($id: ID!) { run(id: $id) { id artifacts { id content } } }
`;

const EVENT_FIELDS = "id runId seq type stepId data createdAt";

export const EVENTS: TypedDocumentNode<{ events: RunEvent }, Record<string, never>> = gql`
  subscription DashboardEvents { events { ${EVENT_FIELDS} } }
`;

export const RUN_EVENTS: TypedDocumentNode<{ runEvents: RunEvent }, { runId: string; afterSeq: number }> = gql`
  subscription DashboardRunEvents($runId: ID!, $afterSeq: Int!) { runEvents(runId: $runId, afterSeq: $afterSeq) { ${EVENT_FIELDS} } }
`;

export const WORKER_STATUS: TypedDocumentNode<{ workerStatus: WorkerStatus }, Record<string, never>> = gql`
  query DashboardWorkerStatus {
    workerStatus {
      enabled running workerId ticks lastTickAt queueDepth oldestQueuedAt
      lanes { lane depth oldestQueuedAt }
      workers { id startedAt heartbeatAt ticks lastTickAt }
    }
  }
`;

export const CANCEL_RUN: TypedDocumentNode<{ cancelRun: RunRow }, { id: string }> = gql`
  mutation DashboardCancelRun($id: ID!) { cancelRun(id: $id) { ${RUN_ROW} } }
`;

export const SIGNAL_RUN: TypedDocumentNode<{ signalRun: RunRow }, { runId: string; stepId: string; payload: unknown }> = gql`
  mutation DashboardSignalRun($runId: ID!, $stepId: String!, $payload: JSON) {
    signalRun(runId: $runId, stepId: $stepId, payload: $payload) { ${RUN_ROW} }
  }
`;

export const TICK_ONCE: TypedDocumentNode<
  { tickOnce: { ticked: number; succeeded: number; failed: number; runIds: string[] } },
  { limit: number }
> = gql`
  mutation DashboardTickOnce($limit: Int!) { tickOnce(limit: $limit) { ticked succeeded failed skippedLeased runIds } }
`;

export const RERUN_RUN: TypedDocumentNode<{ rerunRun: RunRow }, { id: string; fromStep: string | null }> = gql`
  mutation DashboardRerunRun($id: ID!, $fromStep: String) { rerunRun(id: $id, fromStep: $fromStep) { ${RUN_ROW} } }
`;

/** Which runs a bulk action acts on; at least one field must be set (the API refuses an empty filter). */
export interface RunFilter {
  ids?: string[];
  status?: RunStatus[];
  jobType?: string;
  lane?: string;
  createdAfter?: string;
  createdBefore?: string;
}

/** `matched`: runs matching the filter at the call; `affected`: those changed (or that would be, on a dry run). */
export interface BulkResult {
  __typename?: "BulkResult";
  matched: number;
  affected: number;
  runIds: string[];
  dryRun: boolean;
}

const BULK_RESULT = "matched affected runIds dryRun";

export const CANCEL_RUNS: TypedDocumentNode<{ cancelRuns: BulkResult }, { filter: RunFilter; dryRun: boolean }> = gql`
  mutation DashboardCancelRuns($filter: RunFilter!, $dryRun: Boolean) { cancelRuns(filter: $filter, dryRun: $dryRun) { ${BULK_RESULT} } }
`;

export const RERUN_RUNS: TypedDocumentNode<{ rerunRuns: BulkResult }, { filter: RunFilter; dryRun: boolean }> = gql`
  mutation DashboardRerunRuns($filter: RunFilter!, $dryRun: Boolean) { rerunRuns(filter: $filter, dryRun: $dryRun) { ${BULK_RESULT} } }
`;

/** A lane, a job type, or both (runs in that lane and of that job type), whose runs are not claimed. */
export interface Pause {
  __typename?: "Pause";
  lane: string | null;
  jobType: string | null;
  pausedAt: string;
  reason: string | null;
}

const PAUSE_FIELDS = "lane jobType pausedAt reason";

export const PAUSES: TypedDocumentNode<{ pauses: Pause[] }, Record<string, never>> = gql`
  query DashboardPauses { pauses { ${PAUSE_FIELDS} } }
`;

export const PAUSE: TypedDocumentNode<{ pause: Pause }, { lane: string | null; jobType: string | null; reason: string | null }> = gql`
  mutation DashboardPause($lane: String, $jobType: String, $reason: String) {
    pause(lane: $lane, jobType: $jobType, reason: $reason) { ${PAUSE_FIELDS} }
  }
`;

export const RESUME: TypedDocumentNode<{ resume: boolean }, { lane: string | null; jobType: string | null }> = gql`
  mutation DashboardResume($lane: String, $jobType: String) { resume(lane: $lane, jobType: $jobType) }
`;

export interface PruneResult {
  __typename?: "PruneResult";
  runs: number;
  events: number;
  artifacts: number;
  dryRun: boolean;
}

export const PRUNE_RUNS: TypedDocumentNode<{ pruneRuns: PruneResult }, { finishedBefore: string; status: RunStatus[]; dryRun: boolean }> =
  gql`
  mutation DashboardPruneRuns($finishedBefore: DateTime!, $status: [RunStatus!], $dryRun: Boolean) {
    pruneRuns(finishedBefore: $finishedBefore, status: $status, dryRun: $dryRun) { runs events artifacts dryRun }
  }
`;

/** The status a step event moves its step to (runEvents replays them in seq order). */
export function stepStatusAfter(type: string): StepStatus | null {
  switch (type) {
    case "step_started":
      return "RUNNING";
    case "step_succeeded":
    case "step_reused":
      return "SUCCEEDED";
    case "step_failed":
      return "FAILED";
    case "step_retrying":
    case "step_waiting":
      return "WAITING";
    case "step_skipped":
      return "SKIPPED";
    case "step_cancelled":
      return "CANCELLED";
    default:
      return null;
  }
}

export const TERMINAL_RUN_EVENTS: ReadonlySet<string> = new Set(["run_succeeded", "run_failed", "run_cancelled"]);
