/* eslint-disable */
import * as types from './graphql.js';



/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "\n  mutation ApolloCreateRun($input: CreateRunInput!) {\n    createRun(input: $input) {\n      id\n      status\n      steps {\n        id\n        stepId\n        runId\n        status\n      }\n    }\n  }\n": typeof types.ApolloCreateRunDocument,
    "\n  query ApolloRunSteps($id: ID!) {\n    run(id: $id) {\n      id\n      status\n      steps {\n        id\n        stepId\n        runId\n        status\n      }\n    }\n  }\n": typeof types.ApolloRunStepsDocument,
    "\n  subscription ApolloFollowRun($runId: ID!, $afterSeq: Int) {\n    runEvents(runId: $runId, afterSeq: $afterSeq) {\n      id\n      runId\n      seq\n      type\n      stepId\n    }\n  }\n": typeof types.ApolloFollowRunDocument,
    "\n  query ApolloRunsPage($first: Int, $after: String) {\n    runs(first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          id\n          createdAt\n        }\n      }\n      pageInfo {\n        hasNextPage\n        hasPreviousPage\n        startCursor\n        endCursor\n      }\n    }\n  }\n": typeof types.ApolloRunsPageDocument,
    "\n  mutation UrqlCreateRun($input: CreateRunInput!) {\n    createRun(input: $input) {\n      id\n      status\n      steps {\n        id\n        stepId\n        runId\n        status\n      }\n    }\n  }\n": typeof types.UrqlCreateRunDocument,
    "\n  query UrqlRunSteps($id: ID!) {\n    run(id: $id) {\n      id\n      status\n      steps {\n        id\n        stepId\n        runId\n        status\n      }\n    }\n  }\n": typeof types.UrqlRunStepsDocument,
    "\n  subscription UrqlFollowRun($runId: ID!, $afterSeq: Int) {\n    runEvents(runId: $runId, afterSeq: $afterSeq) {\n      id\n      runId\n      seq\n      type\n      stepId\n    }\n  }\n": typeof types.UrqlFollowRunDocument,
    "\n  query UrqlRunsPage($first: Int, $after: String) {\n    runs(first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          id\n          createdAt\n        }\n      }\n      pageInfo {\n        hasNextPage\n        hasPreviousPage\n        startCursor\n        endCursor\n      }\n    }\n  }\n": typeof types.UrqlRunsPageDocument,
    "\n  mutation CreateRun($input: CreateRunInput!) {\n    createRun(input: $input) {\n      id\n      mode\n      jobType\n      lane\n      requestedBy\n      priority\n      status\n      graph\n      params\n      idempotencyKey\n      createdAt\n      updatedAt\n      startedAt\n      finishedAt\n      eventCount\n    }\n  }\n": typeof types.CreateRunDocument,
    "\n  mutation TickOnce($limit: Int) {\n    tickOnce(limit: $limit) {\n      ticked\n      succeeded\n      failed\n      skippedLeased\n      runIds\n    }\n  }\n": typeof types.TickOnceDocument,
    "\n  mutation CancelRun($id: ID!) {\n    cancelRun(id: $id) {\n      id\n      status\n      finishedAt\n      steps {\n        stepId\n        status\n      }\n    }\n  }\n": typeof types.CancelRunDocument,
    "\n  query GetRun($id: ID!, $afterSeq: Int, $first: Int) {\n    run(id: $id) {\n      id\n      status\n      priority\n      createdAt\n      updatedAt\n      startedAt\n      finishedAt\n      eventCount\n      graph\n      steps {\n        id\n        stepId\n        runId\n        type\n        deps\n        status\n        attempts\n        startedAt\n        finishedAt\n        output\n        error\n      }\n      events(afterSeq: $afterSeq, first: $first) {\n        id\n        runId\n        seq\n        type\n        stepId\n        data\n        createdAt\n      }\n      lease {\n        owner\n        epoch\n        expiresAt\n      }\n    }\n  }\n": typeof types.GetRunDocument,
    "\n  query ListRuns($first: Int, $after: String, $status: RunStatus, $jobType: String, $lane: String) {\n    runs(first: $first, after: $after, status: $status, jobType: $jobType, lane: $lane) {\n      edges {\n        cursor\n        node {\n          id\n          status\n          jobType\n          lane\n          createdAt\n        }\n      }\n      pageInfo {\n        hasNextPage\n        hasPreviousPage\n        startCursor\n        endCursor\n      }\n    }\n  }\n": typeof types.ListRunsDocument,
    "\n  query RunEvents($runId: ID!, $afterSeq: Int, $first: Int) {\n    runEvents(runId: $runId, afterSeq: $afterSeq, first: $first) {\n      id\n      seq\n      type\n      stepId\n      createdAt\n    }\n  }\n": typeof types.RunEventsDocument,
    "\n  query WorkerStatus {\n    workerStatus {\n      enabled\n      running\n      workerId\n      ticks\n      lastTickAt\n      queueDepth\n      oldestQueuedAt\n    }\n  }\n": typeof types.WorkerStatusDocument,
    "\n  subscription FollowRun($runId: ID!, $afterSeq: Int) {\n    runEvents(runId: $runId, afterSeq: $afterSeq) {\n      id\n      runId\n      seq\n      type\n      stepId\n      createdAt\n    }\n  }\n": typeof types.FollowRunDocument,
    "\n  subscription FollowAll($afterId: ID) {\n    events(afterId: $afterId) {\n      id\n      runId\n      seq\n      type\n    }\n  }\n": typeof types.FollowAllDocument,
    "\n  mutation CreateRuns($inputs: [CreateRunInput!]!) {\n    createRuns(inputs: $inputs) {\n      id\n      status\n      idempotencyKey\n      eventCount\n    }\n  }\n": typeof types.CreateRunsDocument,
    "\n  mutation SignalRun($runId: ID!, $stepId: String!, $payload: JSON) {\n    signalRun(runId: $runId, stepId: $stepId, payload: $payload) {\n      id\n      status\n      steps {\n        stepId\n        status\n        output\n      }\n    }\n  }\n": typeof types.SignalRunDocument,
    "\n  query RunArtifacts($id: ID!) {\n    run(id: $id) {\n      id\n      status\n      policy\n      artifacts {\n        id\n        runId\n        stepId\n        name\n        contentType\n        size\n        sha256\n        createdAt\n        content\n      }\n    }\n  }\n": typeof types.RunArtifactsDocument,
};
const documents: Documents = {
    "\n  mutation ApolloCreateRun($input: CreateRunInput!) {\n    createRun(input: $input) {\n      id\n      status\n      steps {\n        id\n        stepId\n        runId\n        status\n      }\n    }\n  }\n": types.ApolloCreateRunDocument,
    "\n  query ApolloRunSteps($id: ID!) {\n    run(id: $id) {\n      id\n      status\n      steps {\n        id\n        stepId\n        runId\n        status\n      }\n    }\n  }\n": types.ApolloRunStepsDocument,
    "\n  subscription ApolloFollowRun($runId: ID!, $afterSeq: Int) {\n    runEvents(runId: $runId, afterSeq: $afterSeq) {\n      id\n      runId\n      seq\n      type\n      stepId\n    }\n  }\n": types.ApolloFollowRunDocument,
    "\n  query ApolloRunsPage($first: Int, $after: String) {\n    runs(first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          id\n          createdAt\n        }\n      }\n      pageInfo {\n        hasNextPage\n        hasPreviousPage\n        startCursor\n        endCursor\n      }\n    }\n  }\n": types.ApolloRunsPageDocument,
    "\n  mutation UrqlCreateRun($input: CreateRunInput!) {\n    createRun(input: $input) {\n      id\n      status\n      steps {\n        id\n        stepId\n        runId\n        status\n      }\n    }\n  }\n": types.UrqlCreateRunDocument,
    "\n  query UrqlRunSteps($id: ID!) {\n    run(id: $id) {\n      id\n      status\n      steps {\n        id\n        stepId\n        runId\n        status\n      }\n    }\n  }\n": types.UrqlRunStepsDocument,
    "\n  subscription UrqlFollowRun($runId: ID!, $afterSeq: Int) {\n    runEvents(runId: $runId, afterSeq: $afterSeq) {\n      id\n      runId\n      seq\n      type\n      stepId\n    }\n  }\n": types.UrqlFollowRunDocument,
    "\n  query UrqlRunsPage($first: Int, $after: String) {\n    runs(first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          id\n          createdAt\n        }\n      }\n      pageInfo {\n        hasNextPage\n        hasPreviousPage\n        startCursor\n        endCursor\n      }\n    }\n  }\n": types.UrqlRunsPageDocument,
    "\n  mutation CreateRun($input: CreateRunInput!) {\n    createRun(input: $input) {\n      id\n      mode\n      jobType\n      lane\n      requestedBy\n      priority\n      status\n      graph\n      params\n      idempotencyKey\n      createdAt\n      updatedAt\n      startedAt\n      finishedAt\n      eventCount\n    }\n  }\n": types.CreateRunDocument,
    "\n  mutation TickOnce($limit: Int) {\n    tickOnce(limit: $limit) {\n      ticked\n      succeeded\n      failed\n      skippedLeased\n      runIds\n    }\n  }\n": types.TickOnceDocument,
    "\n  mutation CancelRun($id: ID!) {\n    cancelRun(id: $id) {\n      id\n      status\n      finishedAt\n      steps {\n        stepId\n        status\n      }\n    }\n  }\n": types.CancelRunDocument,
    "\n  query GetRun($id: ID!, $afterSeq: Int, $first: Int) {\n    run(id: $id) {\n      id\n      status\n      priority\n      createdAt\n      updatedAt\n      startedAt\n      finishedAt\n      eventCount\n      graph\n      steps {\n        id\n        stepId\n        runId\n        type\n        deps\n        status\n        attempts\n        startedAt\n        finishedAt\n        output\n        error\n      }\n      events(afterSeq: $afterSeq, first: $first) {\n        id\n        runId\n        seq\n        type\n        stepId\n        data\n        createdAt\n      }\n      lease {\n        owner\n        epoch\n        expiresAt\n      }\n    }\n  }\n": types.GetRunDocument,
    "\n  query ListRuns($first: Int, $after: String, $status: RunStatus, $jobType: String, $lane: String) {\n    runs(first: $first, after: $after, status: $status, jobType: $jobType, lane: $lane) {\n      edges {\n        cursor\n        node {\n          id\n          status\n          jobType\n          lane\n          createdAt\n        }\n      }\n      pageInfo {\n        hasNextPage\n        hasPreviousPage\n        startCursor\n        endCursor\n      }\n    }\n  }\n": types.ListRunsDocument,
    "\n  query RunEvents($runId: ID!, $afterSeq: Int, $first: Int) {\n    runEvents(runId: $runId, afterSeq: $afterSeq, first: $first) {\n      id\n      seq\n      type\n      stepId\n      createdAt\n    }\n  }\n": types.RunEventsDocument,
    "\n  query WorkerStatus {\n    workerStatus {\n      enabled\n      running\n      workerId\n      ticks\n      lastTickAt\n      queueDepth\n      oldestQueuedAt\n    }\n  }\n": types.WorkerStatusDocument,
    "\n  subscription FollowRun($runId: ID!, $afterSeq: Int) {\n    runEvents(runId: $runId, afterSeq: $afterSeq) {\n      id\n      runId\n      seq\n      type\n      stepId\n      createdAt\n    }\n  }\n": types.FollowRunDocument,
    "\n  subscription FollowAll($afterId: ID) {\n    events(afterId: $afterId) {\n      id\n      runId\n      seq\n      type\n    }\n  }\n": types.FollowAllDocument,
    "\n  mutation CreateRuns($inputs: [CreateRunInput!]!) {\n    createRuns(inputs: $inputs) {\n      id\n      status\n      idempotencyKey\n      eventCount\n    }\n  }\n": types.CreateRunsDocument,
    "\n  mutation SignalRun($runId: ID!, $stepId: String!, $payload: JSON) {\n    signalRun(runId: $runId, stepId: $stepId, payload: $payload) {\n      id\n      status\n      steps {\n        stepId\n        status\n        output\n      }\n    }\n  }\n": types.SignalRunDocument,
    "\n  query RunArtifacts($id: ID!) {\n    run(id: $id) {\n      id\n      status\n      policy\n      artifacts {\n        id\n        runId\n        stepId\n        name\n        contentType\n        size\n        sha256\n        createdAt\n        content\n      }\n    }\n  }\n": types.RunArtifactsDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ApolloCreateRun($input: CreateRunInput!) {\n    createRun(input: $input) {\n      id\n      status\n      steps {\n        id\n        stepId\n        runId\n        status\n      }\n    }\n  }\n"): typeof import('./graphql.js').ApolloCreateRunDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ApolloRunSteps($id: ID!) {\n    run(id: $id) {\n      id\n      status\n      steps {\n        id\n        stepId\n        runId\n        status\n      }\n    }\n  }\n"): typeof import('./graphql.js').ApolloRunStepsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription ApolloFollowRun($runId: ID!, $afterSeq: Int) {\n    runEvents(runId: $runId, afterSeq: $afterSeq) {\n      id\n      runId\n      seq\n      type\n      stepId\n    }\n  }\n"): typeof import('./graphql.js').ApolloFollowRunDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ApolloRunsPage($first: Int, $after: String) {\n    runs(first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          id\n          createdAt\n        }\n      }\n      pageInfo {\n        hasNextPage\n        hasPreviousPage\n        startCursor\n        endCursor\n      }\n    }\n  }\n"): typeof import('./graphql.js').ApolloRunsPageDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation UrqlCreateRun($input: CreateRunInput!) {\n    createRun(input: $input) {\n      id\n      status\n      steps {\n        id\n        stepId\n        runId\n        status\n      }\n    }\n  }\n"): typeof import('./graphql.js').UrqlCreateRunDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query UrqlRunSteps($id: ID!) {\n    run(id: $id) {\n      id\n      status\n      steps {\n        id\n        stepId\n        runId\n        status\n      }\n    }\n  }\n"): typeof import('./graphql.js').UrqlRunStepsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription UrqlFollowRun($runId: ID!, $afterSeq: Int) {\n    runEvents(runId: $runId, afterSeq: $afterSeq) {\n      id\n      runId\n      seq\n      type\n      stepId\n    }\n  }\n"): typeof import('./graphql.js').UrqlFollowRunDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query UrqlRunsPage($first: Int, $after: String) {\n    runs(first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          id\n          createdAt\n        }\n      }\n      pageInfo {\n        hasNextPage\n        hasPreviousPage\n        startCursor\n        endCursor\n      }\n    }\n  }\n"): typeof import('./graphql.js').UrqlRunsPageDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateRun($input: CreateRunInput!) {\n    createRun(input: $input) {\n      id\n      mode\n      jobType\n      lane\n      requestedBy\n      priority\n      status\n      graph\n      params\n      idempotencyKey\n      createdAt\n      updatedAt\n      startedAt\n      finishedAt\n      eventCount\n    }\n  }\n"): typeof import('./graphql.js').CreateRunDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation TickOnce($limit: Int) {\n    tickOnce(limit: $limit) {\n      ticked\n      succeeded\n      failed\n      skippedLeased\n      runIds\n    }\n  }\n"): typeof import('./graphql.js').TickOnceDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CancelRun($id: ID!) {\n    cancelRun(id: $id) {\n      id\n      status\n      finishedAt\n      steps {\n        stepId\n        status\n      }\n    }\n  }\n"): typeof import('./graphql.js').CancelRunDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query GetRun($id: ID!, $afterSeq: Int, $first: Int) {\n    run(id: $id) {\n      id\n      status\n      priority\n      createdAt\n      updatedAt\n      startedAt\n      finishedAt\n      eventCount\n      graph\n      steps {\n        id\n        stepId\n        runId\n        type\n        deps\n        status\n        attempts\n        startedAt\n        finishedAt\n        output\n        error\n      }\n      events(afterSeq: $afterSeq, first: $first) {\n        id\n        runId\n        seq\n        type\n        stepId\n        data\n        createdAt\n      }\n      lease {\n        owner\n        epoch\n        expiresAt\n      }\n    }\n  }\n"): typeof import('./graphql.js').GetRunDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ListRuns($first: Int, $after: String, $status: RunStatus, $jobType: String, $lane: String) {\n    runs(first: $first, after: $after, status: $status, jobType: $jobType, lane: $lane) {\n      edges {\n        cursor\n        node {\n          id\n          status\n          jobType\n          lane\n          createdAt\n        }\n      }\n      pageInfo {\n        hasNextPage\n        hasPreviousPage\n        startCursor\n        endCursor\n      }\n    }\n  }\n"): typeof import('./graphql.js').ListRunsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query RunEvents($runId: ID!, $afterSeq: Int, $first: Int) {\n    runEvents(runId: $runId, afterSeq: $afterSeq, first: $first) {\n      id\n      seq\n      type\n      stepId\n      createdAt\n    }\n  }\n"): typeof import('./graphql.js').RunEventsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query WorkerStatus {\n    workerStatus {\n      enabled\n      running\n      workerId\n      ticks\n      lastTickAt\n      queueDepth\n      oldestQueuedAt\n    }\n  }\n"): typeof import('./graphql.js').WorkerStatusDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription FollowRun($runId: ID!, $afterSeq: Int) {\n    runEvents(runId: $runId, afterSeq: $afterSeq) {\n      id\n      runId\n      seq\n      type\n      stepId\n      createdAt\n    }\n  }\n"): typeof import('./graphql.js').FollowRunDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription FollowAll($afterId: ID) {\n    events(afterId: $afterId) {\n      id\n      runId\n      seq\n      type\n    }\n  }\n"): typeof import('./graphql.js').FollowAllDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateRuns($inputs: [CreateRunInput!]!) {\n    createRuns(inputs: $inputs) {\n      id\n      status\n      idempotencyKey\n      eventCount\n    }\n  }\n"): typeof import('./graphql.js').CreateRunsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SignalRun($runId: ID!, $stepId: String!, $payload: JSON) {\n    signalRun(runId: $runId, stepId: $stepId, payload: $payload) {\n      id\n      status\n      steps {\n        stepId\n        status\n        output\n      }\n    }\n  }\n"): typeof import('./graphql.js').SignalRunDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query RunArtifacts($id: ID!) {\n    run(id: $id) {\n      id\n      status\n      policy\n      artifacts {\n        id\n        runId\n        stepId\n        name\n        contentType\n        size\n        sha256\n        createdAt\n        content\n      }\n    }\n  }\n"): typeof import('./graphql.js').RunArtifactsDocument;


export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}
