import { type DocumentNode, GraphQLError, visit } from "graphql";
import type { Plugin } from "graphql-yoga";
import { jsonProblem, textProblem } from "../domain/json.ts";

/**
 * Every string an operation carries must be well-formed text (API.md, "Errors"): a NUL or a
 * lone UTF-16 surrogate anywhere in its variables or in a string literal of the document
 * is BAD_USER_INPUT naming where, before anything executes. PostgreSQL cannot store either
 * (a NUL in a lookup key fails the query itself), and SQLite would store them mangled.
 *
 * One check for every field and both transports (the graphql-ws server runs operations
 * through the same envelop), so no resolver has to remember it. The engine checks what it
 * stores again (domain/run-input.ts), for callers that do not come through GraphQL.
 */
export function useWellFormedInput<C extends Record<string, unknown>>(): Plugin<C> {
  const refuse = (problem: string) => ({
    errors: [new GraphQLError(problem, { extensions: { code: "BAD_USER_INPUT" } })],
  });
  return {
    onExecute: async ({ args, setResultAndStopExecution }) => {
      const problem = await operationProblem(args.document, args.variableValues);
      if (problem) setResultAndStopExecution(refuse(problem));
    },
    onSubscribe: async ({ args, setResultAndStopExecution }) => {
      const problem = await operationProblem(args.document, args.variableValues);
      if (problem) setResultAndStopExecution(refuse(problem));
    },
  };
}

/** How long the check works before letting the event loop turn (a 4 MiB createRuns takes tens of milliseconds). */
const YIELD_AFTER_MS = 10;

/** The first string of an operation that is not well-formed text, as `<where>: <problem>`, or null. */
export async function operationProblem(document: DocumentNode, variables: unknown): Promise<string | null> {
  if (variables && typeof variables === "object") {
    let slice = performance.now();
    for (const [name, value] of Object.entries(variables)) {
      // A list (createRuns' inputs) is checked item by item, with turns of the event loop between.
      const parts: Array<[string, unknown]> = Array.isArray(value) ? value.map((item, i) => [`[${i}]`, item]) : [["", value]];
      for (const [at, part] of parts) {
        // Depth is the engine's rule for what it stores, not this check's: look at every level.
        const found = jsonProblem(part, Number.POSITIVE_INFINITY);
        if (found) return `variable $${name}${at}${found.path}: ${found.problem}`;
        if (performance.now() - slice > YIELD_AFTER_MS) {
          await new Promise((resolve) => setImmediate(resolve));
          slice = performance.now();
        }
      }
    }
  }
  return literalProblem(document);
}

/** What literalProblem found, per document (yoga's cache hands the same object for the same text). */
const literalProblems = new WeakMap<DocumentNode, string | null>();

/** The first string literal of a document that is not well-formed text, as `<argument path>: <problem>`, or null. */
function literalProblem(document: DocumentNode): string | null {
  const known = literalProblems.get(document);
  if (known !== undefined) return known;
  // GraphQL's lexer refuses lone surrogates already, but a \u0000 escape is valid syntax.
  let found: string | null = null;
  const path: string[] = [];
  visit(document, {
    Argument: {
      enter: (node) => void path.push(node.name.value),
      leave: () => void path.pop(),
    },
    ObjectField: {
      enter: (node) => void path.push(node.name.value),
      leave: () => void path.pop(),
    },
    StringValue: (node) => {
      const problem = textProblem(node.value);
      if (problem && found === null) found = `${path.join(".") || "a string literal"}: ${problem}`;
    },
  });
  literalProblems.set(document, found);
  return found;
}
