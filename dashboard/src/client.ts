import { cacheExchange } from "@urql/exchange-graphcache";
import { createClient as createWsClient } from "graphql-ws";
import { createContext, useContext } from "react";
import { Client, fetchExchange, subscriptionExchange } from "urql";

/**
 * One urql Client per token: queries and mutations over HTTP (POST /graphql), subscriptions
 * over graphql-ws on the same path and origin. A normalized cache (graphcache) keeps one copy
 * of each run and step, so a run seen on the list and on its own page is one record: steps
 * are keyed by `Step.id` ("<runId>/<stepId>"), which keeps two runs' steps apart.
 */
/** The longest wait between two tries to reconnect graphql-ws. */
const RETRY_MAX_MS = 10_000;

export interface ForgeClient {
  client: Client;
  /** Calls `listener` whenever the graphql-ws socket (re)connects; returns how to stop. */
  onConnected(listener: () => void): () => void;
  dispose(): void;
}

export function createForgeClient(token: string | null): ForgeClient {
  const authorization = token ? `Bearer ${token}` : null;
  const ws = createWsClient({
    url: `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/graphql`,
    connectionParams: authorization ? { authorization } : {},
    // Opens on the first subscription, closes shortly after the last one ends.
    lazy: true,
    // A restarting Forge comes back; every subscriber resumes from its own cursor. A page may
    // stay open through a long outage: it keeps trying, at most RETRY_MAX_MS apart.
    retryAttempts: Number.POSITIVE_INFINITY,
    retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, Math.min(RETRY_MAX_MS, 500 * 2 ** retries) + Math.random() * 500)),
    shouldRetry: (event) => !(event instanceof CloseEvent && event.code === 4403),
  });
  const client = new Client({
    url: "/graphql",
    // The cache answers what it holds and every view asks for a refresh when an event says it changed.
    requestPolicy: "cache-and-network",
    // Accepting only application/json, every answer is a 200 whose body holds the API's error
    // codes and messages (GraphQL over HTTP's legacy rule), rather than a 403 the browser
    // reports as a failed load on its own.
    fetchOptions: () => ({ headers: { accept: "application/json", ...(authorization ? { authorization } : {}) } }),
    exchanges: [
      cacheExchange({
        keys: {
          Step: (step) => (step.id as string | undefined) ?? null,
          // Types without an id are parts of the record that holds them.
          RunConnection: () => null,
          RunEdge: () => null,
          PageInfo: () => null,
          Lease: () => null,
          TickResult: () => null,
          WorkerStatus: () => null,
          LaneQueue: () => null,
          Waiting: () => null,
          // Answers of one call each, read where they are shown.
          BulkResult: () => null,
          PruneResult: () => null,
          // A pause is named by its lane and job type, either of which may be null; the
          // `pauses` list is read again after every pause and resume.
          Pause: () => null,
          // Events are read as they stream and never looked up again: kept as records, every
          // event a long-open page saw would stay in the cache.
          RunEvent: () => null,
        },
      }),
      fetchExchange,
      subscriptionExchange({
        forwardSubscription(request) {
          const input = { ...request, query: request.query ?? "" };
          return {
            subscribe(sink) {
              const unsubscribe = ws.subscribe(input, sink);
              return { unsubscribe };
            },
          };
        },
      }),
    ],
  });
  return { client, onConnected: (listener) => ws.on("connected", listener), dispose: () => void ws.dispose() };
}

export const ForgeClientContext = createContext<ForgeClient | null>(null);

export function useForgeClient(): ForgeClient {
  const forge = useContext(ForgeClientContext);
  if (!forge) throw new Error("useForgeClient outside ForgeClientContext");
  return forge;
}
