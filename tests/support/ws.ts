import type { DocumentTypeDecoration } from "@graphql-typed-document-node/core";
import { type Client, createClient } from "graphql-ws";
import { onTestFinished } from "vitest";
import WebSocket from "ws";

/** A real graphql-ws client on a real port, closed when the test finishes. */
export function wsClient(httpUrl: string, token: string | null = null): Client {
  const client = createClient({
    url: httpUrl.replace(/^http/, "ws"),
    webSocketImpl: WebSocket,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    retryAttempts: 0,
    lazy: true,
  });
  onTestFinished(() => client.dispose());
  return client;
}

export interface Subscription<T> {
  /** Every `next` payload's data, in arrival order. */
  items: T[];
  /** Errors the server sent, if any. */
  errors: Array<{ message: string; extensions?: { code?: string } }>;
  /** Resolves when the server completes the subscription (or it fails). */
  done: Promise<void>;
  close(): void;
}

export function subscribe<R, V>(client: Client, query: DocumentTypeDecoration<R, V>, variables: V): Subscription<R> {
  const items: R[] = [];
  const errors: Subscription<R>["errors"] = [];
  let close = () => {};
  const done = new Promise<void>((resolve, reject) => {
    close = client.subscribe<R>(
      { query: String(query), variables: variables as Record<string, unknown> },
      {
        next: (value) => {
          if (value.errors) errors.push(...(value.errors as Subscription<R>["errors"]));
          if (value.data) items.push(value.data as R);
        },
        error: (error) => reject(error),
        complete: () => resolve(),
      },
    );
  });
  done.catch(() => {});
  return { items, errors, done, close: () => close() };
}
