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
import type { StoredEvent } from "../domain/event.ts";
import type { Context } from "./context.ts";

/**
 * Fan-out of subscription events (API.md, "Subscriptions"). A thousand dashboards following
 * `events` with the same selection would each execute that selection on every event, and
 * each serialize the same answer: the work grows with subscribers times events. Here each
 * subscriber keeps its own follower (its cursor, its replay, its exactly-once delivery:
 * engine/follow.ts), but what an event becomes is executed once per distinct selection and
 * event, and serialized once; every subscriber of that selection is handed the same result,
 * and the same payload bytes are written to each socket (writeSharedAnswers, api/ws-server.ts).
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

/** Answers kept per selection: enough for the events of a burst that many subscribers are still working through. */
const ANSWERS_PER_SELECTION = 2048;

interface Selection {
  subscribers: number;
  answers: Map<number, ExecutionResult | Promise<ExecutionResult>>;
}

/** What of a document the key needs, worked out once per parsed document (they are cached, so shared). */
interface DocumentInfo {
  id: number;
  /** Per operation name: the variables used anywhere but in the root field's arguments. */
  variables: Map<string, string[]>;
}

const payloads = new WeakMap<ExecutionResult, string>();

/** The JSON of a shared answer without errors, serialized once; undefined for any other result. */
export function sharedPayload(result: ExecutionResult): string | undefined {
  return payloads.get(result);
}

export class SharedAnswers {
  readonly #selections = new Map<string, Selection>();
  readonly #documents = new WeakMap<DocumentNode, DocumentInfo>();
  #nextDocumentId = 1;
  #executions = 0;
  #serializations = 0;

  /** Selections with subscribers now. */
  get selections(): number {
    return this.#selections.size;
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
   */
  readonly subscribe = async (args: ExecutionArgs): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> => {
    const key = this.#keyOf(args);
    const source = await createSourceEventStream(args);
    if (!(Symbol.asyncIterator in source)) return source as ExecutionResult;
    const events = source as AsyncGenerator<StoredEvent>;
    const selection = this.#selections.get(key) ?? { subscribers: 0, answers: new Map() };
    this.#selections.set(key, selection);
    selection.subscribers++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      if (--selection.subscribers === 0) this.#selections.delete(key);
    };
    const answerOf = async (event: StoredEvent): Promise<ExecutionResult> => {
      let answer = selection.answers.get(event.id);
      if (!answer) {
        this.#executions++;
        answer = Promise.resolve(execute({ ...args, rootValue: event })).then((result) => {
          if (!result.errors) {
            this.#serializations++;
            payloads.set(result, JSON.stringify(result));
          }
          return result;
        });
        selection.answers.set(event.id, answer);
        if (selection.answers.size > ANSWERS_PER_SELECTION) {
          selection.answers.delete(selection.answers.keys().next().value as number);
        }
      }
      return answer;
    };
    const iterator: AsyncIterableIterator<ExecutionResult> = {
      next: async () => {
        const next = await events.next();
        if (next.done) {
          release();
          return { done: true, value: undefined };
        }
        return { done: false, value: await answerOf(next.value) };
      },
      return: async () => {
        release();
        await events.return(undefined);
        return { done: true, value: undefined };
      },
      throw: async (error?: unknown) => {
        release();
        await events.throw(error);
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  };

  #keyOf(args: ExecutionArgs): string {
    const info = this.#infoOf(args.document);
    const operationName = args.operationName ?? "";
    let names = info.variables.get(operationName);
    if (!names) {
      names = selectionVariables(args.document, getOperationAST(args.document, args.operationName));
      info.variables.set(operationName, names);
    }
    const values = names.map((name) => args.variableValues?.[name] ?? null);
    const access = (args.contextValue as Context).access;
    return `${info.id}\u0000${operationName}\u0000${access.admin ? "admin" : access.api ? "api" : "none"}\u0000${JSON.stringify(values)}`;
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
