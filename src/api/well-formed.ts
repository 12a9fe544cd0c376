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
    onExecute: ({ args, setResultAndStopExecution }) => {
      const problem = operationProblem(args.document, args.variableValues);
      if (problem) setResultAndStopExecution(refuse(problem));
    },
    onSubscribe: ({ args, setResultAndStopExecution }) => {
      const problem = operationProblem(args.document, args.variableValues);
      if (problem) setResultAndStopExecution(refuse(problem));
    },
  };
}

/** The first string of an operation that is not well-formed text, as `<where>: <problem>`, or null. */
export function operationProblem(document: DocumentNode, variables: unknown): string | null {
  if (variables && typeof variables === "object") {
    for (const [name, value] of Object.entries(variables)) {
      // Depth is the engine's rule for what it stores, not this check's: look at every level.
      const found = jsonProblem(value, Number.POSITIVE_INFINITY);
      if (found) return `variable $${name}${found.path}: ${found.problem}`;
    }
  }
  // Literals: GraphQL's lexer refuses lone surrogates already, but a \u0000 escape is valid syntax.
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
  return found;
}
