import { useEffect, useRef, useState } from "react";
import { useClient } from "urql";
import { pipe, subscribe } from "wonka";
import { errorText } from "./errors.ts";
import { RUN_EVENTS, type RunEvent, type StepStatus, stepStatusAfter, TERMINAL_RUN_EVENTS } from "./operations.ts";

/**
 * Events are applied in batches at most this often: a tick of a 1,000-step run sends
 * thousands of events in a second, and each batch costs the browser a repaint of the graph.
 */
const BATCH_MS = 30;

/** How long to wait before following the run again after the connection dropped. */
const RESUME_AFTER_MS = 1000;

export interface RunLog {
  /** Every event of the run so far, in seq order, each once. */
  events: RunEvent[];
  /** Each step's status as its latest event says, with that event's seq. */
  stepStatus: ReadonlyMap<string, { status: StepStatus; seq: number }>;
  /** The terminal event arrived: nothing more will. */
  ended: boolean;
  error: string | null;
}

const EMPTY: RunLog = { events: [], stepStatus: new Map(), ended: false, error: null };

/**
 * Follows a run's `runEvents` from its first event to its terminal one. Events are applied a
 * batch per animation frame (a tick of a 1,000-step run sends thousands at once). When the
 * connection drops, it follows again from the last seq seen, so it misses nothing; an event
 * seen twice (graphql-ws re-subscribing on its own with the first cursor) is dropped by seq.
 * `onBatch` is told after each batch, so the page can read what the events changed.
 */
export function useRunEvents(runId: string, onBatch: () => void): RunLog {
  const client = useClient();
  const [log, setLog] = useState<RunLog>(EMPTY);
  const notify = useRef(onBatch);
  notify.current = onBatch;

  useEffect(() => {
    let lastSeq = 0;
    let ended = false;
    let pending: RunEvent[] = [];
    let frame: ReturnType<typeof setTimeout> | null = null;
    let retry: ReturnType<typeof setTimeout> | null = null;
    let stop: (() => void) | null = null;
    setLog(EMPTY);

    const flush = () => {
      frame = null;
      const batch = pending;
      pending = [];
      setLog((prev) => {
        const stepStatus = new Map(prev.stepStatus);
        for (const event of batch) {
          const status = event.stepId ? stepStatusAfter(event.type) : null;
          if (status && event.stepId) stepStatus.set(event.stepId, { status, seq: event.seq });
        }
        return { events: prev.events.concat(batch), stepStatus, ended, error: null };
      });
      notify.current();
    };

    const follow = () => {
      const { unsubscribe } = pipe(
        client.subscription(RUN_EVENTS, { runId, afterSeq: lastSeq }, { requestPolicy: "network-only" }),
        subscribe((result) => {
          if (result.error) {
            const message = errorText(result.error);
            setLog((prev) => ({ ...prev, error: message }));
            // The API refused (an unknown run, a missing token): asking again would not help.
            if (result.error.graphQLErrors.length > 0 || ended) return;
            stop?.();
            retry = setTimeout(follow, RESUME_AFTER_MS);
            return;
          }
          const event = result.data?.runEvents;
          if (!event || event.seq <= lastSeq) return;
          lastSeq = event.seq;
          if (TERMINAL_RUN_EVENTS.has(event.type)) ended = true;
          pending.push(event);
          frame ??= setTimeout(flush, BATCH_MS);
        }),
      );
      stop = unsubscribe;
    };
    follow();
    return () => {
      stop?.();
      if (retry) clearTimeout(retry);
      if (frame !== null) clearTimeout(frame);
    };
  }, [client, runId]);

  return log;
}
