import type { StoredEvent } from "../../domain/event.ts";
import { InvalidInput } from "../../errors.ts";
import { intInRange } from "../args.ts";
import { builder } from "../builder.ts";
import { type EventBatches, eventBatches } from "../fanout.ts";

export const RunEventRef = builder.objectRef<StoredEvent>("RunEvent").implement({
  description: "One entry of a run's history.",
  fields: (t) => ({
    id: t.id({
      description:
        "Global position: strictly increasing in commit order across all runs (a 64-bit integer carried as a string; the events subscription's afterId).",
      resolve: (e) => String(e.id),
    }),
    runId: t.id({ description: "The run whose history this event belongs to.", resolve: (e) => e.runId }),
    seq: t.exposeInt("seq", {
      description: "Position within the run: 1, 2, 3 ... gapless, assigned in the same transaction as the change it records.",
    }),
    type: t.exposeString("type", {
      description:
        "What happened: run_created, run_started, run_succeeded, run_failed, run_cancelled, step_started, step_succeeded, step_failed, " +
        "step_retrying, step_skipped, step_waiting or step_cancelled; new types may be added.",
    }),
    stepId: t.exposeString("stepId", {
      nullable: true,
      description: "The step (its key in graph.steps) a step_* event is about; null for run_* events.",
    }),
    data: t.field({
      type: "JSON",
      nullable: true,
      description:
        "Details of the event, by type: e.g. attempt, error and nextAttemptAt for step_retrying, failedSteps for run_failed; null when it has none.",
      resolve: (e, _args, ctx) => ctx.answer.json(e, "data", "RunEvent.data"),
    }),
    createdAt: t.field({ type: "DateTime", description: "When the change it records was made.", resolve: (e) => e.createdAt }),
  }),
});

/** `afterSeq` and `first` of the event lists, checked. */
export function eventPage(args: { afterSeq?: number | null; first?: number | null }): { afterSeq: number; first: number } {
  return {
    afterSeq: intInRange("afterSeq", args.afterSeq, 0, Number.MAX_SAFE_INTEGER, 0),
    first: intInRange("first", args.first, 1, 1000, 100),
  };
}

builder.queryField("runEvents", (t) =>
  t.field({
    type: [RunEventRef],
    description: "A run's events with seq > afterSeq, in seq order (first: 1..1000).",
    args: {
      runId: t.arg.id({ required: true, description: "The run whose events to list; an unknown run gives an empty list." }),
      afterSeq: t.arg.int({ defaultValue: 0, description: "Only events with a larger seq; 0 (the default) starts at the first event." }),
      first: t.arg.int({ defaultValue: 100, description: "Most events to return, 1..1000 (default 100)." }),
    },
    resolve: (_root, args, ctx) => {
      const page = eventPage(args);
      return ctx.forge.runEvents(args.runId, page.afterSeq, page.first);
    },
  }),
);

/**
 * A follower as a subscription's event stream (api/fanout.ts, eventBatches); closing the
 * subscription (the client stops, or disconnects) wakes it from its wait at once instead of
 * after the next event.
 */
async function closable(
  make: (signal: AbortSignal) => Promise<AsyncGenerator<StoredEvent[]>> | AsyncGenerator<StoredEvent[]>,
): Promise<EventBatches> {
  const controller = new AbortController();
  return eventBatches(await make(controller.signal), () => controller.abort());
}

builder.subscriptionField("runEvents", (t) =>
  t.field({
    type: RunEventRef,
    description: "Every event of the run with seq > afterSeq, in order, exactly once; completes after the terminal event.",
    args: {
      runId: t.arg.id({ required: true, description: "The run to follow; an unknown run ends the subscription with NOT_FOUND." }),
      afterSeq: t.arg.int({
        defaultValue: 0,
        description:
          "The last seq the client has seen: only later events are sent; 0 (the default) sends the whole history; past the run's last seq is BAD_USER_INPUT.",
      }),
    },
    subscribe: (_root, args, ctx) => {
      const afterSeq = intInRange("afterSeq", args.afterSeq, 0, Number.MAX_SAFE_INTEGER, 0);
      return closable((signal) => ctx.forge.followRun(args.runId, afterSeq, signal));
    },
    resolve: (event, _args, ctx) => {
      ctx.answer.reset(); // each event is an answer of its own
      return event;
    },
  }),
);

builder.subscriptionField("events", (t) =>
  t.field({
    type: RunEventRef,
    description: "Every event of every run with id > afterId, in id order. Without afterId, events committed from now on.",
    args: {
      afterId: t.arg.id({
        description:
          "The last event id the client has seen: only later events are sent; null or absent starts with events committed from now on.",
      }),
    },
    subscribe: (_root, args, ctx) => {
      let afterId: number | null = null;
      if (args.afterId != null) {
        // Event ids are 64-bit in the database and exact in JavaScript up to 2^53 (store/records.ts).
        afterId = /^\d{1,16}$/.test(args.afterId) ? Number(args.afterId) : Number.NaN;
        if (!Number.isSafeInteger(afterId)) throw new InvalidInput("afterId", "must be an event id (a non-negative integer)");
      }
      return closable((signal) => ctx.forge.followAll(afterId, signal));
    },
    resolve: (event, _args, ctx) => {
      ctx.answer.reset(); // each event is an answer of its own
      return event;
    },
  }),
);
