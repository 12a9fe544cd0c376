import {
  type ArgumentNode,
  createSourceEventStream,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  execute,
  getOperationAST,
  Kind,
  type OperationDefinitionNode,
  visit,
} from "graphql";
import type { Plugin } from "graphql-yoga";
import { LRUCache } from "lru-cache";
import type { StoredEvent } from "../domain/event.ts";
import { variablesKey } from "./args.ts";
import type { Context } from "./context.ts";

/**
 * Fan-out of subscription events (API.md, "Subscriptions"). A thousand dashboards following
 * `events` with the same selection would each execute that selection on every event, and
 * each serialize the same answer: the work grows with subscribers times events. Here each
 * subscriber keeps its own follower (its cursor, its replay, its exactly-once delivery:
 * engine/follow.ts), but what an event becomes is executed once per distinct selection and
 * event, and serialized once; every subscriber of that selection is handed the same result,
 * and the same payload bytes are written to each socket (answerSink, api/ws-server.ts), a
 * batch of events at a time.
 *
 * Why this is sound: every root field of Subscription resolves to the event itself, and the
 * fields below read only the event (and the answer budget, reset for each event). So the
 * answer depends on the document, the operation, the variables the selection below the root
 * field uses, the caller's access, and the event: that is the key. The root field's own
 * arguments (`runId`, `afterSeq`, `afterId`) choose which events a subscriber gets, not what
 * an event becomes, so subscribers resuming from different cursors share answers too.
 *
 * Answers with errors are not shared as bytes (each subscriber's errors go through the
 * error mapping as before); they are still executed once.
 */

/** An answer still being executed (or one with errors, kept without its JSON) is charged this much. */
const UNSIZED_ANSWER_BYTES = 1024;

type Answer = ExecutionResult | Promise<ExecutionResult>;

/**
 * Where a subscriber's shared answers are written straight away (a graphql-ws operation's
 * socket, api/ws-server.ts answerSink): `write` takes an answer's JSON, `pace` is called
 * after each write and says whether to wait before the next.
 */
export interface AnswerSink {
  write(payloadJson: string): void;
  pace(): Promise<void> | undefined;
}

/**
 * A follower's stream of events (api/schema/event.ts) that can also hand over, at once,
 * the events that arrived together: a batch of a burst written to a socket in one go.
 */
export interface EventBatches extends AsyncIterableIterator<StoredEvent> {
  nextBatch(): Promise<IteratorResult<StoredEvent[], undefined>>;
}

/** `batches` as a stream of single events that also offers them a batch at a time. */
export function eventBatches(batches: AsyncGenerator<StoredEvent[]>, onEnd: () => void): EventBatches {
  // The batch being handed out one event at a time, and how far into it.
  let queued: StoredEvent[] = [];
  let at = 0;
  const stream: EventBatches = {
    next: async () => {
      if (at === queued.length) {
        const next = await batches.next();
        if (next.done) return { done: true, value: undefined };
        queued = next.value;
        at = 0;
      }
      return { done: false, value: queued[at++] as StoredEvent };
    },
    nextBatch: async () => {
      if (at < queued.length) {
        const rest = queued.slice(at);
        at = queued.length;
        return { done: false, value: rest };
      }
      const next = await batches.next();
      return next.done ? { done: true, value: undefined } : next;
    },
    return: async () => {
      onEnd();
      await batches.return(undefined);
      return { done: true, value: undefined };
    },
    throw: async (error?: unknown) => {
      onEnd();
      await batches.throw(error);
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]: () => stream,
  };
  return stream;
}

/** What of a document the key needs, worked out once per parsed document (they are cached, so shared). */
interface DocumentInfo {
  id: number;
  /** Per operation name: the variables used anywhere but in the root field's arguments. */
  variables: Map<string, string[]>;
}

const payloads = new WeakMap<ExecutionResult, string>();

/**
 * The answers kept to be shared live in one cache for all selections, within
 * `cacheBytes` (FORGE_SHARED_ANSWERS_BYTES), least recently used out first. Subscribers of
 * one selection follow a burst nearly in step, so an answer is wanted again within a few
 * events of being made; a selection that nobody shares costs its answers there and nothing
 * more, however many subscribers bring selections of their own.
 */
export class SharedAnswers {
  readonly #answers: LRUCache<string, Answer>;
  readonly #documents = new WeakMap<DocumentNode, DocumentInfo>();
  #nextDocumentId = 1;
  #executions = 0;
  #serializations = 0;

  constructor(cacheBytes: number) {
    this.#answers = new LRUCache<string, Answer>({
      maxSize: cacheBytes,
      // The JSON's characters twice (the string, and about as much again for the result
      // object it was made from), the key's characters, and the entry's own overhead.
      sizeCalculation: (answer, key) => {
        const json = answer instanceof Promise ? undefined : payloads.get(answer);
        return (json === undefined ? UNSIZED_ANSWER_BYTES : 4 * json.length) + 2 * key.length + 256;
      },
    });
  }

  /** Answers kept now. */
  get cached(): number {
    return this.#answers.size;
  }

  /** Executions of a selection on an event so far (one per distinct selection and event, unless evicted). */
  get executions(): number {
    return this.#executions;
  }

  /** Answers serialized so far (each answer without errors, once). */
  get serializations(): number {
    return this.#serializations;
  }

  /**
   * A subscribe function for envelop: the subscriber's own event stream (the root field's
   * subscribe resolver, as graphql-js calls it), each event mapped to the shared answer.
   * With a sink in the context (a graphql-ws operation), answers without errors are written
   * to it as they come, a batch of events at a time, and only the others are handed on; so
   * envelop and graphql-ws see just the answers with errors, in their place in the order.
   */
  readonly subscribe = async (args: ExecutionArgs): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> => {
    const key = this.#keyOf(args);
    const source = await createSourceEventStream(args);
    if (!(Symbol.asyncIterator in source)) return source as ExecutionResult;
    const events = source as AsyncIterableIterator<StoredEvent> & Partial<Pick<EventBatches, "nextBatch">>;
    const sink = (args.contextValue as Context).sink;
    // The batch being worked through, and how far: an answer handed on leaves the rest here.
    let batch: StoredEvent[] = [];
    let at = 0;
    let ended = false;
    const done = { done: true, value: undefined } as const;
    const iterator: AsyncIterableIterator<ExecutionResult> = {
      next: async () => {
        for (;;) {
          if (at === batch.length) {
            const next = events.nextBatch
              ? await events.nextBatch()
              : await events.next().then((n) => (n.done ? n : { done: false, value: [n.value] }));
            if (next.done) return done;
            batch = next.value as StoredEvent[];
            at = 0;
          }
          if (ended) return done;
          while (at < batch.length) {
            const event = batch[at++] as StoredEvent;
            const kept = this.#answerOf(`${key}\u0000${event.id}`, args, event);
            const answer = kept instanceof Promise ? await kept : kept;
            const json = sink ? payloads.get(answer) : undefined;
            if (!sink || json === undefined) return { done: false, value: answer };
            sink.write(json);
            const wait = sink.pace();
            if (wait) await wait;
            if (ended) return done;
          }
        }
      },
      return: async () => {
        ended = true;
        await events.return?.(undefined);
        return done;
      },
      throw: async (error?: unknown) => {
        ended = true;
        await events.throw?.(error);
        return done;
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  };

  /** The answer of the selection `args` to `event`, executed unless another subscriber's execution is kept. */
  #answerOf(key: string, args: ExecutionArgs, event: StoredEvent): Answer {
    const kept = this.#answers.get(key);
    if (kept) return kept;
    this.#executions++;
    const keep = (result: ExecutionResult): ExecutionResult => {
      if (!result.errors) {
        this.#serializations++;
        payloads.set(result, JSON.stringify(result));
      }
      this.#answers.set(key, result);
      return result;
    };
    const executed = execute({ ...args, rootValue: event });
    if (!(executed instanceof Promise)) return keep(executed);
    const pending = executed.then(keep, (error: unknown) => {
      this.#answers.delete(key);
      throw error;
    });
    this.#answers.set(key, pending);
    return pending;
  }

  #keyOf(args: ExecutionArgs): string {
    const info = this.#infoOf(args.document);
    const operationName = args.operationName ?? "";
    let names = info.variables.get(operationName);
    if (!names) {
      names = selectionVariables(args.document, getOperationAST(args.document, args.operationName));
      info.variables.set(operationName, names);
    }
    const access = (args.contextValue as Context).access;
    return `${info.id}\u0000${operationName}\u0000${access.admin ? "admin" : access.api ? "api" : "none"}\u0000${variablesKey(args.variableValues, names)}`;
  }

  #infoOf(document: DocumentNode): DocumentInfo {
    let info = this.#documents.get(document);
    if (!info) {
      info = { id: this.#nextDocumentId++, variables: new Map() };
      this.#documents.set(document, info);
    }
    return info;
  }
}

/**
 * The variables an operation's answer to one event can depend on: every variable the
 * document uses except in its definitions and in the arguments of the operation's root
 * field. Other operations and every fragment are searched too, which can only split
 * subscribers that could have shared, never join two that cannot.
 */
function selectionVariables(document: DocumentNode, operation: OperationDefinitionNode | null | undefined): string[] {
  if (!operation) return [];
  const rootArguments = new Set<ArgumentNode>(
    operation.selectionSet.selections.flatMap((s) => (s.kind === Kind.FIELD ? (s.arguments ?? []) : [])),
  );
  const used = new Set<string>();
  visit(document, {
    VariableDefinition: () => false,
    // The root field's argument values choose events, not answers.
    Argument: (node) => (rootArguments.has(node) ? false : undefined),
    Variable: (node) => {
      used.add(node.name.value);
    },
  });
  return [...used].sort();
}

/** Every subscription of the yoga instance (and so of graphql-ws, which runs through it) answered through `answers`. */
export function useSharedAnswers(answers: SharedAnswers): Plugin<Context> {
  return {
    onSubscribe: ({ setSubscribeFn }) => {
      setSubscribeFn(answers.subscribe as never);
    },
  };
}
