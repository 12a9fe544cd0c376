/* eslint-disable */
/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';
/** A run to create: its graph, its parameters and where it queues. */
export type CreateRunInput = {
  /** The step graph, { steps: { <stepId>: { type, deps, params, retry, timeoutMs } }, initial_step }: a DAG of at least one step that the job type's policy allows. */
  graph: unknown;
  /** Optional; generated when absent; 1-128 chars of [A-Za-z0-9._:-]. */
  id?: string | null | undefined;
  /** 1-256 chars: a key already used returns that run when the input is the same and fails with CONFLICT when it differs; absent or null: no deduplication. */
  idempotencyKey?: string | null | undefined;
  /** The job type, which picks the policy the run is checked against: 1-128 chars of [A-Za-z0-9._:-]. */
  jobType: string;
  /** The lane to queue the run in: 1-128 chars of [A-Za-z0-9._:-]; default "default". */
  lane?: string | null | undefined;
  /** LIVE, or DRY_RUN where side-effecting steps only report what they would do; the job type's policy may allow only some modes. */
  mode: RunMode;
  /** The run's parameters (a JSON object); absent or null means {}. */
  params?: unknown;
  /** -1000..1000, default 0; higher priorities are ticked first, FIFO by createdAt among equals. */
  priority?: number | null | undefined;
  /** Who asks for the run: 1-256 chars, not blank. */
  requestedBy: string;
};

/** Whether a run's side-effecting steps (such as http) act on the world or only report what they would do. */
export type RunMode =
  /** Side-effecting steps do not act: they succeed with what they would have done (an http step sends nothing and outputs { dryRun: true, request }). */
  | 'DRY_RUN'
  /** Every step acts for real (an http step performs its request). */
  | 'LIVE';

/** Where a run is in its lifecycle: PENDING, then RUNNING, then one of the terminal SUCCEEDED, FAILED or CANCELLED. */
export type RunStatus =
  /** Terminal: cancelRun stopped it before it finished; its unfinished steps are CANCELLED. */
  | 'CANCELLED'
  /** Terminal: a step failed for good (run_failed lists failedSteps), or the run's changes could not be committed (data.reason says why). */
  | 'FAILED'
  /** Created and not started: no tick has advanced it yet. */
  | 'PENDING'
  /** A tick has started it; its steps are running, or waiting on timers, retries or approvals. */
  | 'RUNNING'
  /** Terminal: every step succeeded. */
  | 'SUCCEEDED';

/** Where a step is: PENDING, RUNNING and WAITING, then one of the terminal SUCCEEDED, FAILED, SKIPPED or CANCELLED. */
export type StepStatus =
  /** Terminal: the run was cancelled before the step finished. */
  | 'CANCELLED'
  /** Terminal: its last attempt failed and no retry was left; error says why. */
  | 'FAILED'
  /** Not started: its deps have not all succeeded yet, or no tick has reached it. */
  | 'PENDING'
  /** An attempt is in progress under the run's lease. */
  | 'RUNNING'
  /** Terminal: a step it depends on, directly or not, did not succeed, so it never ran. */
  | 'SKIPPED'
  /** Terminal: an attempt succeeded; output holds its result. */
  | 'SUCCEEDED'
  /** Waiting with no lease held: on a sleep timer, a retry's backoff (error then says why the last attempt failed) or an approval's signal. */
  | 'WAITING';

export type ApolloCreateRunMutationVariables = Exact<{
  input: CreateRunInput;
}>;


export type ApolloCreateRunMutation = { createRun: { id: string, status: RunStatus, steps: Array<{ id: string, stepId: string, runId: string, status: StepStatus }> } };

export type ApolloRunStepsQueryVariables = Exact<{
  id: string;
}>;


export type ApolloRunStepsQuery = { run: { id: string, status: RunStatus, steps: Array<{ id: string, stepId: string, runId: string, status: StepStatus }> } | null };

export type ApolloFollowRunSubscriptionVariables = Exact<{
  runId: string;
  afterSeq?: number | null | undefined;
}>;


export type ApolloFollowRunSubscription = { runEvents: { id: string, runId: string, seq: number, type: string, stepId: string | null } };

export type ApolloRunsPageQueryVariables = Exact<{
  first?: number | null | undefined;
  after?: string | null | undefined;
}>;


export type ApolloRunsPageQuery = { runs: { edges: Array<{ cursor: string, node: { id: string, createdAt: string } }>, pageInfo: { hasNextPage: boolean, hasPreviousPage: boolean, startCursor: string | null, endCursor: string | null } } };

export type UrqlCreateRunMutationVariables = Exact<{
  input: CreateRunInput;
}>;


export type UrqlCreateRunMutation = { createRun: { id: string, status: RunStatus, steps: Array<{ id: string, stepId: string, runId: string, status: StepStatus }> } };

export type UrqlRunStepsQueryVariables = Exact<{
  id: string;
}>;


export type UrqlRunStepsQuery = { run: { id: string, status: RunStatus, steps: Array<{ id: string, stepId: string, runId: string, status: StepStatus }> } | null };

export type UrqlFollowRunSubscriptionVariables = Exact<{
  runId: string;
  afterSeq?: number | null | undefined;
}>;


export type UrqlFollowRunSubscription = { runEvents: { id: string, runId: string, seq: number, type: string, stepId: string | null } };

export type UrqlRunsPageQueryVariables = Exact<{
  first?: number | null | undefined;
  after?: string | null | undefined;
}>;


export type UrqlRunsPageQuery = { runs: { edges: Array<{ cursor: string, node: { id: string, createdAt: string } }>, pageInfo: { hasNextPage: boolean, hasPreviousPage: boolean, startCursor: string | null, endCursor: string | null } } };

export type CreateRunMutationVariables = Exact<{
  input: CreateRunInput;
}>;


export type CreateRunMutation = { createRun: { id: string, mode: RunMode, jobType: string, lane: string, requestedBy: string, priority: number, status: RunStatus, graph: unknown, params: unknown, idempotencyKey: string | null, createdAt: string, updatedAt: string, startedAt: string | null, finishedAt: string | null, eventCount: number } };

export type TickOnceMutationVariables = Exact<{
  limit?: number | null | undefined;
}>;


export type TickOnceMutation = { tickOnce: { ticked: number, succeeded: number, failed: number, skippedLeased: number, runIds: Array<string> } };

export type CancelRunMutationVariables = Exact<{
  id: string;
}>;


export type CancelRunMutation = { cancelRun: { id: string, status: RunStatus, finishedAt: string | null, steps: Array<{ stepId: string, status: StepStatus }> } };

export type GetRunQueryVariables = Exact<{
  id: string;
  afterSeq?: number | null | undefined;
  first?: number | null | undefined;
}>;


export type GetRunQuery = { run: { id: string, status: RunStatus, priority: number, createdAt: string, updatedAt: string, startedAt: string | null, finishedAt: string | null, eventCount: number, graph: unknown, steps: Array<{ id: string, stepId: string, runId: string, type: string, deps: Array<string>, status: StepStatus, attempts: number, startedAt: string | null, finishedAt: string | null, output: unknown, error: string | null }>, events: Array<{ id: string, runId: string, seq: number, type: string, stepId: string | null, data: unknown, createdAt: string }>, lease: { owner: string, epoch: number, expiresAt: string } | null } | null };

export type ListRunsQueryVariables = Exact<{
  first?: number | null | undefined;
  after?: string | null | undefined;
  status?: RunStatus | null | undefined;
  jobType?: string | null | undefined;
  lane?: string | null | undefined;
}>;


export type ListRunsQuery = { runs: { edges: Array<{ cursor: string, node: { id: string, status: RunStatus, jobType: string, lane: string, createdAt: string } }>, pageInfo: { hasNextPage: boolean, hasPreviousPage: boolean, startCursor: string | null, endCursor: string | null } } };

export type RunEventsQueryVariables = Exact<{
  runId: string;
  afterSeq?: number | null | undefined;
  first?: number | null | undefined;
}>;


export type RunEventsQuery = { runEvents: Array<{ id: string, seq: number, type: string, stepId: string | null, createdAt: string }> };

export type WorkerStatusQueryVariables = Exact<{ [key: string]: never; }>;


export type WorkerStatusQuery = { workerStatus: { enabled: boolean, running: boolean, workerId: string | null, ticks: number, lastTickAt: string | null, queueDepth: number, oldestQueuedAt: string | null } };

export type FollowRunSubscriptionVariables = Exact<{
  runId: string;
  afterSeq?: number | null | undefined;
}>;


export type FollowRunSubscription = { runEvents: { id: string, runId: string, seq: number, type: string, stepId: string | null, createdAt: string } };

export type FollowAllSubscriptionVariables = Exact<{
  afterId?: string | null | undefined;
}>;


export type FollowAllSubscription = { events: { id: string, runId: string, seq: number, type: string } };

export type CreateRunsMutationVariables = Exact<{
  inputs: Array<CreateRunInput> | CreateRunInput;
}>;


export type CreateRunsMutation = { createRuns: Array<{ id: string, status: RunStatus, idempotencyKey: string | null, eventCount: number }> };

export type SignalRunMutationVariables = Exact<{
  runId: string;
  stepId: string;
  payload?: unknown;
}>;


export type SignalRunMutation = { signalRun: { id: string, status: RunStatus, steps: Array<{ stepId: string, status: StepStatus, output: unknown }> } };

export type RunArtifactsQueryVariables = Exact<{
  id: string;
}>;


export type RunArtifactsQuery = { run: { id: string, status: RunStatus, policy: unknown, artifacts: Array<{ id: string, runId: string, stepId: string | null, name: string, contentType: string, size: number, sha256: string, createdAt: string, content: string | null }> } | null };

export class TypedDocumentString<TResult, TVariables>
  extends String
  implements DocumentTypeDecoration<TResult, TVariables>
{
  __apiType?: NonNullable<DocumentTypeDecoration<TResult, TVariables>['__apiType']>;
  private value: string;
  public __meta__?: Record<string, any> | undefined;

  constructor(value: string, __meta__?: Record<string, any> | undefined) {
    super(value);
    this.value = value;
    this.__meta__ = __meta__;
  }

  override toString(): string & DocumentTypeDecoration<TResult, TVariables> {
    return this.value;
  }
}

export const ApolloCreateRunDocument = new TypedDocumentString(`
    mutation ApolloCreateRun($input: CreateRunInput!) {
  createRun(input: $input) {
    id
    status
    steps {
      id
      stepId
      runId
      status
    }
  }
}
    `) as unknown as TypedDocumentString<ApolloCreateRunMutation, ApolloCreateRunMutationVariables>;
export const ApolloRunStepsDocument = new TypedDocumentString(`
    query ApolloRunSteps($id: ID!) {
  run(id: $id) {
    id
    status
    steps {
      id
      stepId
      runId
      status
    }
  }
}
    `) as unknown as TypedDocumentString<ApolloRunStepsQuery, ApolloRunStepsQueryVariables>;
export const ApolloFollowRunDocument = new TypedDocumentString(`
    subscription ApolloFollowRun($runId: ID!, $afterSeq: Int) {
  runEvents(runId: $runId, afterSeq: $afterSeq) {
    id
    runId
    seq
    type
    stepId
  }
}
    `) as unknown as TypedDocumentString<ApolloFollowRunSubscription, ApolloFollowRunSubscriptionVariables>;
export const ApolloRunsPageDocument = new TypedDocumentString(`
    query ApolloRunsPage($first: Int, $after: String) {
  runs(first: $first, after: $after) {
    edges {
      cursor
      node {
        id
        createdAt
      }
    }
    pageInfo {
      hasNextPage
      hasPreviousPage
      startCursor
      endCursor
    }
  }
}
    `) as unknown as TypedDocumentString<ApolloRunsPageQuery, ApolloRunsPageQueryVariables>;
export const UrqlCreateRunDocument = new TypedDocumentString(`
    mutation UrqlCreateRun($input: CreateRunInput!) {
  createRun(input: $input) {
    id
    status
    steps {
      id
      stepId
      runId
      status
    }
  }
}
    `) as unknown as TypedDocumentString<UrqlCreateRunMutation, UrqlCreateRunMutationVariables>;
export const UrqlRunStepsDocument = new TypedDocumentString(`
    query UrqlRunSteps($id: ID!) {
  run(id: $id) {
    id
    status
    steps {
      id
      stepId
      runId
      status
    }
  }
}
    `) as unknown as TypedDocumentString<UrqlRunStepsQuery, UrqlRunStepsQueryVariables>;
export const UrqlFollowRunDocument = new TypedDocumentString(`
    subscription UrqlFollowRun($runId: ID!, $afterSeq: Int) {
  runEvents(runId: $runId, afterSeq: $afterSeq) {
    id
    runId
    seq
    type
    stepId
  }
}
    `) as unknown as TypedDocumentString<UrqlFollowRunSubscription, UrqlFollowRunSubscriptionVariables>;
export const UrqlRunsPageDocument = new TypedDocumentString(`
    query UrqlRunsPage($first: Int, $after: String) {
  runs(first: $first, after: $after) {
    edges {
      cursor
      node {
        id
        createdAt
      }
    }
    pageInfo {
      hasNextPage
      hasPreviousPage
      startCursor
      endCursor
    }
  }
}
    `) as unknown as TypedDocumentString<UrqlRunsPageQuery, UrqlRunsPageQueryVariables>;
export const CreateRunDocument = new TypedDocumentString(`
    mutation CreateRun($input: CreateRunInput!) {
  createRun(input: $input) {
    id
    mode
    jobType
    lane
    requestedBy
    priority
    status
    graph
    params
    idempotencyKey
    createdAt
    updatedAt
    startedAt
    finishedAt
    eventCount
  }
}
    `) as unknown as TypedDocumentString<CreateRunMutation, CreateRunMutationVariables>;
export const TickOnceDocument = new TypedDocumentString(`
    mutation TickOnce($limit: Int) {
  tickOnce(limit: $limit) {
    ticked
    succeeded
    failed
    skippedLeased
    runIds
  }
}
    `) as unknown as TypedDocumentString<TickOnceMutation, TickOnceMutationVariables>;
export const CancelRunDocument = new TypedDocumentString(`
    mutation CancelRun($id: ID!) {
  cancelRun(id: $id) {
    id
    status
    finishedAt
    steps {
      stepId
      status
    }
  }
}
    `) as unknown as TypedDocumentString<CancelRunMutation, CancelRunMutationVariables>;
export const GetRunDocument = new TypedDocumentString(`
    query GetRun($id: ID!, $afterSeq: Int, $first: Int) {
  run(id: $id) {
    id
    status
    priority
    createdAt
    updatedAt
    startedAt
    finishedAt
    eventCount
    graph
    steps {
      id
      stepId
      runId
      type
      deps
      status
      attempts
      startedAt
      finishedAt
      output
      error
    }
    events(afterSeq: $afterSeq, first: $first) {
      id
      runId
      seq
      type
      stepId
      data
      createdAt
    }
    lease {
      owner
      epoch
      expiresAt
    }
  }
}
    `) as unknown as TypedDocumentString<GetRunQuery, GetRunQueryVariables>;
export const ListRunsDocument = new TypedDocumentString(`
    query ListRuns($first: Int, $after: String, $status: RunStatus, $jobType: String, $lane: String) {
  runs(
    first: $first
    after: $after
    status: $status
    jobType: $jobType
    lane: $lane
  ) {
    edges {
      cursor
      node {
        id
        status
        jobType
        lane
        createdAt
      }
    }
    pageInfo {
      hasNextPage
      hasPreviousPage
      startCursor
      endCursor
    }
  }
}
    `) as unknown as TypedDocumentString<ListRunsQuery, ListRunsQueryVariables>;
export const RunEventsDocument = new TypedDocumentString(`
    query RunEvents($runId: ID!, $afterSeq: Int, $first: Int) {
  runEvents(runId: $runId, afterSeq: $afterSeq, first: $first) {
    id
    seq
    type
    stepId
    createdAt
  }
}
    `) as unknown as TypedDocumentString<RunEventsQuery, RunEventsQueryVariables>;
export const WorkerStatusDocument = new TypedDocumentString(`
    query WorkerStatus {
  workerStatus {
    enabled
    running
    workerId
    ticks
    lastTickAt
    queueDepth
    oldestQueuedAt
  }
}
    `) as unknown as TypedDocumentString<WorkerStatusQuery, WorkerStatusQueryVariables>;
export const FollowRunDocument = new TypedDocumentString(`
    subscription FollowRun($runId: ID!, $afterSeq: Int) {
  runEvents(runId: $runId, afterSeq: $afterSeq) {
    id
    runId
    seq
    type
    stepId
    createdAt
  }
}
    `) as unknown as TypedDocumentString<FollowRunSubscription, FollowRunSubscriptionVariables>;
export const FollowAllDocument = new TypedDocumentString(`
    subscription FollowAll($afterId: ID) {
  events(afterId: $afterId) {
    id
    runId
    seq
    type
  }
}
    `) as unknown as TypedDocumentString<FollowAllSubscription, FollowAllSubscriptionVariables>;
export const CreateRunsDocument = new TypedDocumentString(`
    mutation CreateRuns($inputs: [CreateRunInput!]!) {
  createRuns(inputs: $inputs) {
    id
    status
    idempotencyKey
    eventCount
  }
}
    `) as unknown as TypedDocumentString<CreateRunsMutation, CreateRunsMutationVariables>;
export const SignalRunDocument = new TypedDocumentString(`
    mutation SignalRun($runId: ID!, $stepId: String!, $payload: JSON) {
  signalRun(runId: $runId, stepId: $stepId, payload: $payload) {
    id
    status
    steps {
      stepId
      status
      output
    }
  }
}
    `) as unknown as TypedDocumentString<SignalRunMutation, SignalRunMutationVariables>;
export const RunArtifactsDocument = new TypedDocumentString(`
    query RunArtifacts($id: ID!) {
  run(id: $id) {
    id
    status
    policy
    artifacts {
      id
      runId
      stepId
      name
      contentType
      size
      sha256
      createdAt
      content
    }
  }
}
    `) as unknown as TypedDocumentString<RunArtifactsQuery, RunArtifactsQueryVariables>;