import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from "@apollo/client";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { fetchExchange, subscriptionExchange, Client as UrqlClient } from "@urql/core";
import { cacheExchange } from "@urql/exchange-graphcache";
import { createClient, type Client as WsClient } from "graphql-ws";
import { onTestFinished } from "vitest";
import WebSocket from "ws";

/**
 * Third-party GraphQL clients set up the way their own documentation sets them up, pointed
 * at a real Forge port. Each is torn down when the test finishes, its WebSocket closed
 * before the app stops (the app's stop hook was registered first, so it runs last).
 */

/** A graphql-ws client whose teardown waits until its socket is really closed. */
function socket(httpUrl: string, token: string): { client: WsClient; close(): Promise<void> } {
  let open = false;
  const closed: Array<() => void> = [];
  const client = createClient({
    url: httpUrl.replace(/^http/, "ws"),
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    // A dropped connection is a failure here, not something to paper over by reconnecting.
    retryAttempts: 0,
    on: {
      opened: () => {
        open = true;
      },
      closed: () => {
        open = false;
        for (const resolve of closed.splice(0)) resolve();
      },
    },
  });
  return {
    client,
    close: async () => {
      const done = open ? new Promise<void>((resolve) => closed.push(resolve)) : Promise.resolve();
      await client.dispose();
      await done;
    },
  };
}

/**
 * Apollo Client as its docs build it for subscriptions: queries and mutations over HttpLink
 * (Node's own fetch), subscriptions over GraphQLWsLink, split by operation type, and the
 * default InMemoryCache with no type policies, so normalization rests on `__typename:id` alone.
 */
export function apolloClient(httpUrl: string, token: string): ApolloClient {
  const ws = socket(httpUrl, token);
  const link = ApolloLink.split(
    ({ operationType }) => operationType === "subscription",
    new GraphQLWsLink(ws.client),
    new HttpLink({ uri: httpUrl, fetch, headers: { authorization: `Bearer ${token}` } }),
  );
  const client = new ApolloClient({ link, cache: new InMemoryCache() });
  onTestFinished(async () => {
    client.stop();
    await ws.close();
  });
  return client;
}

/**
 * urql with graphcache's normalized cache (entities keyed by `__typename:id`), the fetch
 * exchange, and subscriptions forwarded to graphql-ws as urql's docs show.
 */
export function urqlClient(httpUrl: string, token: string): UrqlClient {
  const ws = socket(httpUrl, token);
  const client = new UrqlClient({
    url: httpUrl,
    fetch,
    fetchOptions: { headers: { authorization: `Bearer ${token}` } },
    exchanges: [
      cacheExchange({}),
      fetchExchange,
      subscriptionExchange({
        forwardSubscription(request) {
          const input = { ...request, query: request.query ?? "" };
          return {
            subscribe(sink) {
              const unsubscribe = ws.client.subscribe(input, sink);
              return { unsubscribe };
            },
          };
        },
      }),
    ],
  });
  onTestFinished(() => ws.close());
  return client;
}
