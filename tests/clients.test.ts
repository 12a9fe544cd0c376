import { type ApolloClient, gql as apolloGql, CombinedGraphQLErrors, type TypedDocumentNode } from "@apollo/client";
import { type CombinedError, type Client as UrqlClient, gql as urqlGql } from "@urql/core";
import { describe, expect, it } from "vitest";
import { onEnd, pipe, subscribe as wonkaSubscribe } from "wonka";
import { TestClock } from "../src/clock.ts";
import type {
  ApolloCreateRunMutation,
  ApolloCreateRunMutationVariables,
  ApolloFollowRunSubscription,
  ApolloFollowRunSubscriptionVariables,
  ApolloRunStepsQuery,
  ApolloRunStepsQueryVariables,
  ApolloRunsPageQuery,
  ApolloRunsPageQueryVariables,
  UrqlCreateRunMutation,
  UrqlCreateRunMutationVariables,
  UrqlFollowRunSubscription,
  UrqlFollowRunSubscriptionVariables,
  UrqlRunStepsQuery,
  UrqlRunStepsQueryVariables,
  UrqlRunsPageQuery,
  UrqlRunsPageQueryVariables,
} from "./gql/graphql.ts";
import { apolloClient, urqlClient } from "./support/clients.ts";
import { CancelRun, TickOnce } from "./support/documents.ts";
import { API, chain, runInput, startForge } from "./support/forge.ts";
import { waitFor } from "./support/wait.ts";

// Two runs of this graph share the step ids "fetch" and "build": what a cache keyed on the
// bare step id would merge.
const graph = { steps: { fetch: { type: "noop" }, build: { type: "noop", deps: ["fetch"] } } };

/** Forge with FORGE_API_TOKEN set, so both clients must send it over HTTP and over graphql-ws. */
async function forgeOnPort(clock = new TestClock()) {
  const t = await startForge({ env: { FORGE_API_TOKEN: API }, clock });
  return { t, clock, url: await t.app.start() };
}

const ApolloCreateRun: TypedDocumentNode<ApolloCreateRunMutation, ApolloCreateRunMutationVariables> = apolloGql`
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
`;

const ApolloRunSteps: TypedDocumentNode<ApolloRunStepsQuery, ApolloRunStepsQueryVariables> = apolloGql`
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
`;

const ApolloFollowRun: TypedDocumentNode<ApolloFollowRunSubscription, ApolloFollowRunSubscriptionVariables> = apolloGql`
  subscription ApolloFollowRun($runId: ID!, $afterSeq: Int) {
    runEvents(runId: $runId, afterSeq: $afterSeq) {
      id
      runId
      seq
      type
      stepId
    }
  }
`;

const ApolloRunsPage: TypedDocumentNode<ApolloRunsPageQuery, ApolloRunsPageQueryVariables> = apolloGql`
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
`;

const UrqlCreateRun = urqlGql<UrqlCreateRunMutation, UrqlCreateRunMutationVariables>`
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
`;

const UrqlRunSteps = urqlGql<UrqlRunStepsQuery, UrqlRunStepsQueryVariables>`
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
`;

const UrqlFollowRun = urqlGql<UrqlFollowRunSubscription, UrqlFollowRunSubscriptionVariables>`
  subscription UrqlFollowRun($runId: ID!, $afterSeq: Int) {
    runEvents(runId: $runId, afterSeq: $afterSeq) {
      id
      runId
      seq
      type
      stepId
    }
  }
`;

const UrqlRunsPage = urqlGql<UrqlRunsPageQuery, UrqlRunsPageQueryVariables>`
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
`;

/** A successful chain(3) run's events, in seq order. */
const CHAIN_3_EVENTS = [
  "run_created",
  "run_started",
  "step_started",
  "step_succeeded",
  "step_started",
  "step_succeeded",
  "step_started",
  "step_succeeded",
  "run_succeeded",
];

type PageInfo = ApolloRunsPageQuery["runs"]["pageInfo"];

/** Relay's PageInfo, page by page: the page's own first and last cursors, and where it sits. */
function expectRelayPages(pages: Array<{ edges: Array<{ cursor: string }>; pageInfo: PageInfo }>) {
  pages.forEach((page, i) => {
    expect(page.pageInfo).toMatchObject({
      hasNextPage: i < pages.length - 1,
      hasPreviousPage: i > 0,
      startCursor: page.edges[0]?.cursor,
      endCursor: page.edges.at(-1)?.cursor,
    });
  });
}

type ApolloEvent = ApolloFollowRunSubscription["runEvents"];

/** runEvents through Apollo's subscribe(): the events in arrival order, GraphQL errors' codes, and completion. */
function followWithApollo(apollo: ApolloClient, runId: string) {
  const events: ApolloEvent[] = [];
  const errors: unknown[] = [];
  const completed = new Promise<void>((resolve, reject) => {
    apollo.subscribe({ query: ApolloFollowRun, variables: { runId } }).subscribe({
      next: ({ data, error }) => {
        if (CombinedGraphQLErrors.is(error)) errors.push(...error.errors.map((e) => e.extensions?.code));
        else if (error) reject(error);
        if (data) events.push(data.runEvents);
      },
      error: reject,
      complete: resolve,
    });
  });
  return { events, errors, completed };
}

type UrqlEvent = UrqlFollowRunSubscription["runEvents"];

/** runEvents through urql's subscription() source, read with wonka as urql's own docs do. */
function followWithUrql(urql: UrqlClient, runId: string) {
  const followed = {
    events: [] as UrqlEvent[],
    errors: [] as unknown[],
    ended: undefined as UrqlEvent | undefined,
    completed: Promise.resolve(),
  };
  followed.completed = new Promise<void>((resolve, reject) => {
    pipe(
      urql.subscription(UrqlFollowRun, { runId }),
      onEnd(resolve),
      wonkaSubscribe(({ data, error, hasNext }) => {
        if (error?.networkError) return reject(error);
        // urql's subscriptionExchange marks the end of the stream with one more result of its
        // own: the last payload (data and errors) again, with hasNext false. Every payload the
        // server sent has hasNext true, so counting those alone counts what Forge sent.
        if (!hasNext) {
          followed.ended = data?.runEvents;
          return;
        }
        if (error) followed.errors.push(...error.graphQLErrors.map((e) => e.extensions?.code));
        if (data) followed.events.push(data.runEvents);
      }),
    );
  });
  return followed;
}

describe("Apollo Client (HttpLink, GraphQLWsLink, default InMemoryCache)", () => {
  it("keeps each run's own step statuses in the normalized cache when two runs share step ids", async () => {
    const { t, url } = await forgeOnPort();
    const apollo = apolloClient(url, API);
    const create = async () => {
      const { data } = await apollo.mutate({ mutation: ApolloCreateRun, variables: { input: runInput({ graph }) } });
      if (!data) throw new Error("createRun returned no data");
      return data.createRun.id;
    };
    const succeeded = await create();
    const cancelled = await create();
    // One run is cancelled before any tick, so the tick finishes only the other.
    await t.gql(CancelRun, { id: cancelled });
    expect((await t.gql(TickOnce, { limit: 10 })).data?.tickOnce.runIds).toEqual([succeeded]);

    for (const id of [succeeded, cancelled]) {
      const { data } = await apollo.query({ query: ApolloRunSteps, variables: { id } });
      expect(data?.run?.steps.map((s) => s.runId)).toEqual([id, id]);
    }
    // Read back from the cache alone: the later query must not have overwritten the earlier run's steps.
    const cached = (id: string) =>
      apollo.readQuery({ query: ApolloRunSteps, variables: { id } })?.run?.steps.map((s) => [s.stepId, s.runId, s.status]);
    expect(cached(succeeded)).toEqual([
      ["fetch", succeeded, "SUCCEEDED"],
      ["build", succeeded, "SUCCEEDED"],
    ]);
    expect(cached(cancelled)).toEqual([
      ["fetch", cancelled, "CANCELLED"],
      ["build", cancelled, "CANCELLED"],
    ]);
    const stepEntities = Object.keys(apollo.extract() as Record<string, unknown>).filter((key) => key.startsWith("Step:"));
    expect(stepEntities.sort()).toEqual([succeeded, cancelled].flatMap((id) => [`Step:${id}/build`, `Step:${id}/fetch`]).sort());
  });

  it("follows a run over the runEvents subscription until it completes, every seq once and in order", async () => {
    const { t, url } = await forgeOnPort();
    const apollo = apolloClient(url, API);
    const created = await apollo.mutate({ mutation: ApolloCreateRun, variables: { input: runInput({ graph: chain(3) }) } });
    const id = created.data?.createRun.id as string;

    const { events, errors, completed } = followWithApollo(apollo, id);
    // The stored event first, then the tick's events arrive live on the same subscription.
    await waitFor(() => events.length === 1, "the stored run_created");
    await t.gql(TickOnce, {});
    await completed;
    expect(errors).toEqual([]);

    const run = await t.app.forge.getRun(id);
    expect(run?.status).toBe("SUCCEEDED");
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: run?.seq ?? 0 }, (_, i) => i + 1));
    expect(events.map((e) => e.type)).toEqual(CHAIN_3_EVENTS);
    expect(events.every((e) => e.runId === id)).toBe(true);
  });

  it("pages runs(first, after) with fetchMore, newest first, every run exactly once", async () => {
    const { clock, url } = await forgeOnPort();
    const apollo = apolloClient(url, API);
    const created: string[] = [];
    for (let i = 0; i < 7; i++) {
      // Distinct creation times make "newest first" a single order.
      clock.advance(1000);
      const { data } = await apollo.mutate({ mutation: ApolloCreateRun, variables: { input: runInput({ graph }) } });
      created.push(data?.createRun.id as string);
    }
    const newestFirst = [...created].reverse();

    const query = apollo.watchQuery({ query: ApolloRunsPage, variables: { first: 3 } });
    let shown: ApolloRunsPageQuery | undefined;
    const watching = query.subscribe((result) => {
      if (result.dataState === "complete") shown = result.data;
    });
    try {
      await waitFor(() => shown !== undefined, "the first page");
      const pages = [(shown as ApolloRunsPageQuery).runs];
      for (let page = pages[0]; page?.pageInfo.hasNextPage; page = pages.at(-1)) {
        const { data } = await query.fetchMore({
          variables: { after: page.pageInfo.endCursor },
          // No type policies: the page is appended by hand, as the fetchMore docs show.
          updateQuery: (previous, { fetchMoreResult }) => ({
            runs: { ...fetchMoreResult.runs, edges: [...previous.runs.edges, ...fetchMoreResult.runs.edges] },
          }),
        });
        if (!data) throw new Error("fetchMore returned no data");
        pages.push(data.runs);
      }
      expect(pages.map((p) => p.edges.length)).toEqual([3, 3, 1]);
      expectRelayPages(pages);
      expect(pages.flatMap((p) => p.edges.map((e) => e.node.id))).toEqual(newestFirst);
      // The watched query shows the pages merged in the cache, in order, with no duplicates.
      await waitFor(() => shown?.runs.edges.length === 7, "the merged list");
      expect(shown?.runs.edges.map((e) => e.node.id)).toEqual(newestFirst);
    } finally {
      watching.unsubscribe();
    }
  });

  it("reads Forge's error codes as GraphQL errors: a refused graph, an ill-typed variable, a wrong token, an unknown run", async () => {
    const { url } = await forgeOnPort();
    const apollo = apolloClient(url, API);
    const refusal = async (request: Promise<unknown>) => {
      const error = await request.then(
        () => null,
        (e: unknown) => e,
      );
      if (!CombinedGraphQLErrors.is(error)) throw new Error(`expected GraphQL errors, got ${String(error)}`);
      return error.errors.map((e) => ({ code: e.extensions?.code, message: e.message }));
    };
    // Refused while executing (data null), whatever HTTP status comes with it.
    const badGraph = runInput({ graph: { steps: { a: { type: "noop", deps: ["missing"] } } } });
    expect(await refusal(apollo.mutate({ mutation: ApolloCreateRun, variables: { input: badGraph } }))).toEqual([
      { code: "BAD_USER_INPUT", message: expect.stringContaining("graph.steps.a.deps") },
    ]);
    // Refused before executing: the variable does not coerce (a request error, no data at all).
    const badMode = runInput({ mode: "SOMETIMES" as never });
    expect(await refusal(apollo.mutate({ mutation: ApolloCreateRun, variables: { input: badMode } }))).toEqual([
      { code: "BAD_USER_INPUT", message: expect.stringContaining("input.mode") },
    ]);
    // Refused before parsing: the wrong token.
    const stranger = apolloClient(url, "not-the-api-token");
    expect(await refusal(stranger.query({ query: ApolloRunsPage, variables: { first: 1 } }))).toEqual([
      { code: "FORBIDDEN", message: expect.any(String) },
    ]);
    // Over graphql-ws: the subscription ends with the code, not a dropped socket.
    const unknown = followWithApollo(apollo, "no-such-run");
    await unknown.completed;
    expect(unknown.events).toEqual([]);
    expect(unknown.errors).toEqual(["NOT_FOUND"]);
  });
});

describe("urql (graphcache normalized cache, fetchExchange, subscriptionExchange over graphql-ws)", () => {
  it("keeps each run's own step statuses in the normalized cache when two runs share step ids", async () => {
    const { t, url } = await forgeOnPort();
    const urql = urqlClient(url, API);
    const create = async () => {
      const { data, error } = await urql.mutation(UrqlCreateRun, { input: runInput({ graph }) }).toPromise();
      if (error || !data) throw error ?? new Error("createRun returned no data");
      return data.createRun.id;
    };
    const succeeded = await create();
    const cancelled = await create();
    await t.gql(CancelRun, { id: cancelled });
    expect((await t.gql(TickOnce, { limit: 10 })).data?.tickOnce.runIds).toEqual([succeeded]);

    for (const id of [succeeded, cancelled]) {
      const { data, error } = await urql.query(UrqlRunSteps, { id }).toPromise();
      expect(error).toBeUndefined();
      expect(data?.run?.steps.map((s) => s.runId)).toEqual([id, id]);
    }
    // readQuery answers from graphcache only (cache-only), never from the network.
    const cached = (id: string) => urql.readQuery(UrqlRunSteps, { id })?.data?.run?.steps.map((s) => [s.stepId, s.runId, s.status]);
    expect(cached(succeeded)).toEqual([
      ["fetch", succeeded, "SUCCEEDED"],
      ["build", succeeded, "SUCCEEDED"],
    ]);
    expect(cached(cancelled)).toEqual([
      ["fetch", cancelled, "CANCELLED"],
      ["build", cancelled, "CANCELLED"],
    ]);
  });

  it("follows a run over the runEvents subscription until it completes, every seq once and in order", async () => {
    const { t, url } = await forgeOnPort();
    const urql = urqlClient(url, API);
    const created = await urql.mutation(UrqlCreateRun, { input: runInput({ graph: chain(3) }) }).toPromise();
    const id = created.data?.createRun.id as string;

    const followed = followWithUrql(urql, id);
    const { events } = followed;
    await waitFor(() => events.length === 1, "the stored run_created");
    await t.gql(TickOnce, {});
    await followed.completed;
    expect(followed.errors).toEqual([]);

    const run = await t.app.forge.getRun(id);
    expect(run?.status).toBe("SUCCEEDED");
    expect(followed.ended).toEqual(events.at(-1));
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: run?.seq ?? 0 }, (_, i) => i + 1));
    expect(events.map((e) => e.type)).toEqual(CHAIN_3_EVENTS);
    expect(events.every((e) => e.runId === id)).toBe(true);
  });

  it("pages runs(first, after) with successive queries, newest first, every run exactly once", async () => {
    const { clock, url } = await forgeOnPort();
    const urql = urqlClient(url, API);
    const created: string[] = [];
    for (let i = 0; i < 7; i++) {
      clock.advance(1000);
      const { data } = await urql.mutation(UrqlCreateRun, { input: runInput({ graph }) }).toPromise();
      created.push(data?.createRun.id as string);
    }

    const pages: UrqlRunsPageQuery["runs"][] = [];
    let after: string | null = null;
    do {
      const { data, error } = await urql.query(UrqlRunsPage, { first: 3, after }).toPromise();
      if (error || !data) throw error ?? new Error("runs returned no data");
      pages.push(data.runs);
      after = data.runs.pageInfo.hasNextPage ? data.runs.pageInfo.endCursor : null;
    } while (after !== null);

    expect(pages.map((p) => p.edges.length)).toEqual([3, 3, 1]);
    expectRelayPages(pages);
    expect(pages.flatMap((p) => p.edges.map((e) => e.node.id))).toEqual([...created].reverse());
  });

  it("reads Forge's error codes as GraphQL errors: a refused graph, an ill-typed variable, a wrong token, an unknown run", async () => {
    const { url } = await forgeOnPort();
    const urql = urqlClient(url, API);
    const refusal = async (request: PromiseLike<{ error?: CombinedError }>) => {
      const { error } = await request;
      // A GraphQL error, not a network error: urql read the body whatever the status.
      expect(error?.networkError).toBeUndefined();
      return error?.graphQLErrors.map((e) => ({ code: e.extensions?.code, message: e.message }));
    };
    const badGraph = runInput({ graph: { steps: { a: { type: "noop", deps: ["missing"] } } } });
    expect(await refusal(urql.mutation(UrqlCreateRun, { input: badGraph }))).toEqual([
      { code: "BAD_USER_INPUT", message: expect.stringContaining("graph.steps.a.deps") },
    ]);
    const badMode = runInput({ mode: "SOMETIMES" as never });
    expect(await refusal(urql.mutation(UrqlCreateRun, { input: badMode }))).toEqual([
      { code: "BAD_USER_INPUT", message: expect.stringContaining("input.mode") },
    ]);
    // urql sends queries as GET when they fit in a URL: refused there too, before parsing.
    const stranger = urqlClient(url, "not-the-api-token");
    expect(await refusal(stranger.query(UrqlRunsPage, { first: 1 }))).toEqual([{ code: "FORBIDDEN", message: expect.any(String) }]);
    const unknown = followWithUrql(urql, "no-such-run");
    await unknown.completed;
    expect(unknown.events).toEqual([]);
    expect(unknown.errors).toEqual(["NOT_FOUND"]);
  });
});
