import { gql, type TypedDocumentNode } from "@urql/core";

/**
 * The GraphQL operations the dashboard sends, with the shapes of their answers as
 * schema.graphql declares them. Every operation goes through Forge's public API.
 */

export type RunStatus = "PENDING" | "RUNNING" | "SUCCEEDED" | "FAILED" | "CANCELLED";
export type StepStatus = "PENDING" | "RUNNING" | "WAITING" | "SUCCEEDED" | "FAILED" | "SKIPPED" | "CANCELLED";
export const RUN_STATUSES: readonly RunStatus[] = ["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"];

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
      mode priority params eventCount
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
