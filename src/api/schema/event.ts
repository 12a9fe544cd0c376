import type { StoredEvent } from "../../domain/event.ts";
import { InvalidInput } from "../../errors.ts";
import { intInRange } from "../args.ts";
import { builder } from "../builder.ts";

export const RunEventRef = builder.objectRef<StoredEvent>("RunEvent").implement({
  description: "One entry of a run's history.",
  fields: (t) => ({
    id: t.id({ description: "Global position: strictly increasing in commit order across all runs.", resolve: (e) => String(e.id) }),
    runId: t.id({ resolve: (e) => e.runId }),
    seq: t.exposeInt("seq", { description: "1, 2, 3 ... gapless within a run." }),
    type: t.exposeString("type"),
    stepId: t.exposeString("stepId", { nullable: true }),
    data: t.field({ type: "JSON", nullable: true, resolve: (e, _args, ctx) => ctx.answer.json(e, "data", "RunEvent.data") }),
    createdAt: t.field({ type: "DateTime", resolve: (e) => e.createdAt }),
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
    args: { runId: t.arg.id({ required: true }), afterSeq: t.arg.int({ defaultValue: 0 }), first: t.arg.int({ defaultValue: 100 }) },
    resolve: (_root, args, ctx) => {
      const page = eventPage(args);
      return ctx.forge.runEvents(args.runId, page.afterSeq, page.first);
    },
  }),
);

/**
 * Wraps a follower so that closing the subscription (the client stops, or disconnects)
 * wakes it from its wait at once instead of after the next event.
 */
async function closable<T>(
  make: (signal: AbortSignal) => Promise<AsyncGenerator<T>> | AsyncGenerator<T>,
): Promise<AsyncIterableIterator<T>> {
  const controller = new AbortController();
  const inner = await make(controller.signal);
  const iterator: AsyncIterableIterator<T> = {
    next: () => inner.next(),
    return: (value?: unknown) => {
      controller.abort();
      return inner.return(value as T);
    },
    throw: (error?: unknown) => {
      controller.abort();
      return inner.throw(error);
    },
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}

builder.subscriptionField("runEvents", (t) =>
  t.field({
    type: RunEventRef,
    description: "Every event of the run with seq > afterSeq, in order, exactly once; completes after the terminal event.",
    args: { runId: t.arg.id({ required: true }), afterSeq: t.arg.int({ defaultValue: 0 }) },
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
    args: { afterId: t.arg.id() },
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
