import { graphql } from "../gql/index.ts";

// The operations the tests send, typed by `npm run generate` (tests/gql/).

export const CreateRun = graphql(`
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
`);

export const TickOnce = graphql(`
  mutation TickOnce($limit: Int) {
    tickOnce(limit: $limit) {
      ticked
      succeeded
      failed
      skippedLeased
      runIds
    }
  }
`);

export const CancelRun = graphql(`
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
`);

export const GetRun = graphql(`
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
`);

export const ListRuns = graphql(`
  query ListRuns($first: Int, $after: String, $status: RunStatus, $jobType: String, $lane: String) {
    runs(first: $first, after: $after, status: $status, jobType: $jobType, lane: $lane) {
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
`);

export const RunEvents = graphql(`
  query RunEvents($runId: ID!, $afterSeq: Int, $first: Int) {
    runEvents(runId: $runId, afterSeq: $afterSeq, first: $first) {
      id
      seq
      type
      stepId
      createdAt
    }
  }
`);

export const WorkerStatusQuery = graphql(`
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
`);

export const RunEventsSubscription = graphql(`
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
`);

export const AllEventsSubscription = graphql(`
  subscription FollowAll($afterId: ID) {
    events(afterId: $afterId) {
      id
      runId
      seq
      type
    }
  }
`);

export const CreateRuns = graphql(`
  mutation CreateRuns($inputs: [CreateRunInput!]!) {
    createRuns(inputs: $inputs) {
      id
      status
      idempotencyKey
      eventCount
    }
  }
`);

export const SignalRun = graphql(`
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
`);

export const RunArtifacts = graphql(`
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
`);
