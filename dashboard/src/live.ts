import { useEffect, useRef } from "react";
import { type Client, type OperationContext, useClient } from "urql";
import { pipe, subscribe } from "wonka";
import { useForgeClient } from "./client.ts";
import { errorText } from "./errors.ts";
import { EVENTS, type RunEvent } from "./operations.ts";

/**
 * Runs `refresh` when asked, one at a time and at most once per `minGapMs`: requests made
 * meanwhile make one more run after it, however many came. The view then shows the state as
 * of after the last event it was told about, without a request per event (a tick of a
 * 1,000-step run sends thousands, and reading such a run costs the server far more than
 * sending an event).
 */
export function serialized(refresh: () => Promise<unknown>, minGapMs = 0): () => void {
  let state: "idle" | "scheduled" | "running" = "idle";
  let again = false;
  let lastStart = Number.NEGATIVE_INFINITY;
  const start = () => {
    state = "running";
    lastStart = performance.now();
    void refresh().finally(() => {
      state = "idle";
      if (again) {
        again = false;
        run();
      }
    });
  };
  const run = () => {
    // A scheduled refresh has not read anything yet: it will see this change too.
    if (state === "scheduled") return;
    if (state === "running") {
      again = true;
      return;
    }
    const wait = lastStart + minGapMs - performance.now();
    if (wait <= 0) return start();
    state = "scheduled";
    setTimeout(start, wait);
  };
  return run;
}

/** The network, not the cache: a refresh asked for by an event must see the change. */
export const FRESH: Partial<OperationContext> = { requestPolicy: "network-only" };

/** Queries `doc` from the network into the cache, which every view reading it then shows. */
export function refetch<V extends object>(client: Client, doc: Parameters<Client["query"]>[0], variables: V): Promise<unknown> {
  return client.query(doc, variables as never, FRESH).toPromise();
}

/** How long after the socket connects the view reads again, for the subscription to be in place. */
const RESYNC_AFTER_MS = 250;

/**
 * Follows the `events` subscription (every run's events, from now on) while mounted and hands
 * `onEvents` the events that arrived, a batch per animation frame, so a burst of events costs
 * one render. `onError` gets the API's message when the subscription is refused or ends.
 *
 * Without a cursor the subscription starts at events committed after Forge received it, so a
 * change made between the view's first read and then, or while the socket was down, would be
 * missed: `onResync` is called when the socket (re)connects, and once more a moment later
 * when the subscription has surely reached Forge, for the view to read its state again.
 */
export function useAllEvents(
  onEvents: (events: RunEvent[]) => void,
  onError: (message: string | null) => void,
  onResync: () => void = () => {},
): void {
  const client = useClient();
  const forge = useForgeClient();
  const handlers = useRef({ onEvents, onError, onResync });
  handlers.current = { onEvents, onError, onResync };
  useEffect(() => {
    const timers = new Set<ReturnType<typeof setTimeout>>();
    const stopWatching = forge.onConnected(() => {
      handlers.current.onResync();
      const timer = setTimeout(() => {
        timers.delete(timer);
        handlers.current.onResync();
      }, RESYNC_AFTER_MS);
      timers.add(timer);
    });
    let pending: RunEvent[] = [];
    let frame: number | null = null;
    const flush = () => {
      frame = null;
      const batch = pending;
      pending = [];
      handlers.current.onEvents(batch);
    };
    const { unsubscribe } = pipe(
      client.subscription(EVENTS, {}),
      subscribe((result) => {
        if (result.error) {
          handlers.current.onError(errorText(result.error));
          return;
        }
        const event = result.data?.events;
        if (!event) return;
        handlers.current.onError(null);
        pending.push(event);
        frame ??= requestAnimationFrame(flush);
      }),
    );
    return () => {
      unsubscribe();
      stopWatching();
      for (const timer of timers) clearTimeout(timer);
      if (frame !== null) cancelAnimationFrame(frame);
    };
  }, [client, forge]);
}
