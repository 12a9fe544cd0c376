import { EnvelopArmorPlugin } from "@escape.tech/graphql-armor";
import { type DocumentNode, type ExecutionArgs, GraphQLError, Kind, Lexer, Source, TokenKind, visit } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { RequestLimits } from "../config.ts";
import { variablesKey } from "./args.ts";
import type { Context } from "./context.ts";
import { CostTooHigh, operationCost } from "./cost.ts";
import { mergeWorkOver } from "./merge-work.ts";

/**
 * Limits on what one GraphQL request may ask (API.md, "Limits on requests"), as Envelop
 * plugins, so that they hold the same over HTTP and over graphql-ws (whose operations go
 * through yoga's parse, validate, execute and subscribe too). Each refusal is BAD_USER_INPUT,
 * names the limit and the variable that raises it, and comes before any resolver runs.
 *
 * The body limit itself is yoga's `maxRequestBodySize` (it counts the bytes as they arrive,
 * chunked or not) and ws' `maxPayload`; this module only words yoga's refusal.
 */

function limitError(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: "BAD_USER_INPUT" } });
}

/**
 * graphql-js parses nested values and selections recursively and overflows the stack
 * somewhere between 1,000 and 2,000 levels (a RangeError: HTTP 500). Nothing in graphql-armor
 * looks at nesting before the parser does (its depth limit validates the parsed document), so
 * the source is first read with graphql's own Lexer, counting open brackets. The scan stops
 * after `maxTokens` tokens: past that the parser refuses the document for its tokens anyway.
 */
function assertNesting(source: string | Source, maxNesting: number, maxTokens: number): void {
  const lexer = new Lexer(typeof source === "string" ? new Source(source) : source);
  let depth = 0;
  for (let tokens = 0; tokens <= maxTokens; tokens++) {
    switch (lexer.advance().kind) {
      case TokenKind.EOF:
        return;
      case TokenKind.BRACE_L:
      case TokenKind.BRACKET_L:
      case TokenKind.PAREN_L:
        if (++depth > maxNesting) {
          throw limitError(`the document nests brackets more than ${maxNesting} levels deep, the limit (FORGE_MAX_NESTING raises it)`);
        }
        break;
      case TokenKind.BRACE_R:
      case TokenKind.BRACKET_R:
      case TokenKind.PAREN_R:
        depth--;
        break;
    }
  }
}

/**
 * Nesting before the parser runs, and after it the work validation would do merging
 * repeated fields (merge-work.ts), which nothing else bounds and which grows with the square
 * of the fields repeated. A refused document is cached like any parse error.
 */
function useParseLimits(limits: RequestLimits): Plugin<Context> {
  return {
    // Wraps whatever parser the plugins before it set (armor's token-counting one), so the
    // checks run only when yoga's document cache misses.
    onParse: ({ parseFn, setParseFn }) => {
      setParseFn((source, options) => {
        assertNesting(source, limits.maxNesting, limits.maxTokens);
        const document = parseFn(source, options);
        // Fragment chains are nesting too: the same limit, counted in spreads.
        const over = mergeWorkOver(document, limits.maxFieldComparisons, limits.maxNesting);
        if (over === "comparisons") {
          throw limitError(
            `the document repeats fields so much that checking it would take more than ${limits.maxFieldComparisons} comparisons of fields sharing a name, the limit (FORGE_MAX_FIELD_COMPARISONS raises it)`,
          );
        }
        if (over === "spreads") {
          throw limitError(
            `the document's fragments spread one another more than ${limits.maxNesting} levels deep, the limit (FORGE_MAX_NESTING raises it)`,
          );
        }
        return document;
      });
    },
  };
}

/** Tokens, depth and aliases: graphql-armor's plugins, with Forge's wording. */
function useArmor(limits: RequestLimits): Plugin<Context> {
  const report =
    (message: string) =>
    (context: { reportError(error: GraphQLError): void } | null): void =>
      context?.reportError(limitError(message));
  return EnvelopArmorPlugin({
    maxTokens: {
      n: limits.maxTokens,
      // The parser has no validation context to report to, and armor's own error reads
      // "Syntax Error: ..."; throwing here replaces it.
      onReject: [
        () => {
          throw limitError(`the document has more than ${limits.maxTokens} tokens, the limit (FORGE_MAX_TOKENS raises it)`);
        },
      ],
    },
    maxDepth: {
      n: limits.maxDepth,
      // Depth as the answer nests: a fragment spread adds no level of its own. Introspection
      // counts too (the standard introspection query is 15 deep).
      flattenFragments: true,
      ignoreIntrospection: false,
      propagateOnRejection: false,
      onReject: [report(`the operation nests fields more than ${limits.maxDepth} deep, the limit (FORGE_MAX_DEPTH raises it)`)],
    },
    maxAliases: {
      n: limits.maxAliases,
      propagateOnRejection: false,
      onReject: [report(`the operation has more than ${limits.maxAliases} aliases, the limit (FORGE_MAX_ALIASES raises it)`)],
    },
    // Forge's own cost model (cost.ts) prices pages, which armor's cannot.
    costLimit: { enabled: false },
    // Directives are bounded by the token limit, and field suggestions help clients (with
    // FORGE_API_TOKEN set, a caller without it gets no validation errors at all).
    maxDirectives: { enabled: false },
    blockFieldSuggestion: { enabled: false },
  }) as Plugin<Context>;
}

/**
 * The variables an operation's cost can depend on: those given as a `first` argument (a page
 * size) or to a directive (`@include(if: $x)` drops a selection). Read once per document.
 */
const costVariablesOf = new WeakMap<DocumentNode, string[]>();

function costVariables(document: DocumentNode): string[] {
  let names = costVariablesOf.get(document);
  if (!names) {
    const found = new Set<string>();
    let inDirective = 0;
    visit(document, {
      Directive: { enter: () => void inDirective++, leave: () => void inDirective-- },
      Argument: (node) => {
        if ((node.name.value === "first" || inDirective > 0) && node.value.kind === Kind.VARIABLE) found.add(node.value.name.value);
      },
    });
    names = [...found].sort();
    costVariablesOf.set(document, names);
  }
  return names;
}

/** Costs already computed, per document (yoga's cache keeps one object per document text) and per the values that matter. */
const knownCosts = new WeakMap<DocumentNode, Map<string, number>>();
/** Distinct page sizes remembered per document: a client paging with many sizes is priced afresh. */
const KNOWN_COSTS_PER_DOCUMENT = 32;

/**
 * The cost limit, computed with the operation's variables once they are known, before
 * execution. Pricing walks the whole document with type information (tens of microseconds
 * for a small operation, on every request), so a cost is remembered for its document, its
 * operation and the values of the variables it depends on.
 */
function useCostLimit(limits: RequestLimits): Plugin<Context> {
  const costOf = (args: ExecutionArgs): number | GraphQLError => {
    const key = `${args.operationName ?? ""}\u0000${variablesKey(args.variableValues, costVariables(args.document))}`;
    let known = knownCosts.get(args.document);
    const remembered = known?.get(key);
    if (remembered !== undefined) return remembered;
    let cost: number;
    try {
      cost = operationCost(args.schema, args.document, args.variableValues ?? undefined, args.operationName ?? undefined, limits.maxCost);
    } catch (error) {
      // Variables that do not fit where the document uses them (a null for a non-null
      // directive argument, say) leave the cost unknown: the operation is refused with
      // GraphQL's own words for it, before anything runs.
      if (error instanceof GraphQLError) return error;
      if (!(error instanceof CostTooHigh)) throw error;
      cost = Number.POSITIVE_INFINITY;
    }
    if (!known || known.size >= KNOWN_COSTS_PER_DOCUMENT) {
      known = new Map();
      knownCosts.set(args.document, known);
    }
    known.set(key, cost);
    return cost;
  };
  const refusal = (args: ExecutionArgs): GraphQLError | null => {
    const cost = costOf(args);
    if (cost instanceof GraphQLError) return limitError(cost.message);
    if (cost <= limits.maxCost) return null;
    const found = Number.isFinite(cost) ? ` (${cost})` : "";
    return limitError(
      `the operation's cost${found} is over the limit of ${limits.maxCost}: a list costs its page size (first) times its selection (FORGE_MAX_COST raises it)`,
    );
  };
  return {
    onExecute: ({ args, setResultAndStopExecution }) => {
      const error = refusal(args);
      if (error) setResultAndStopExecution({ errors: [error] });
    },
    onSubscribe: ({ args, setResultAndStopExecution }) => {
      const error = refusal(args);
      if (error) setResultAndStopExecution({ errors: [error] });
    },
  };
}

/**
 * yoga refuses a body over `maxRequestBodySize` with 413 and its own code and words; here
 * the refusal names the limit and how to raise it (useContractErrors keeps the 413).
 */
function useBodyLimitError(limits: RequestLimits): Plugin<Context> {
  const refusal = new GraphQLError(`the request body is over ${limits.maxBodyBytes} bytes, the limit (FORGE_MAX_BODY_BYTES raises it)`, {
    extensions: { code: "BAD_USER_INPUT", http: { status: 413 } },
  });
  return {
    onResultProcess: ({ result, setResult }) => {
      if (Array.isArray(result) || Symbol.asyncIterator in result) return;
      const errors = (result as { errors?: readonly GraphQLError[] }).errors;
      if (errors?.some((e) => e.extensions?.code === "REQUEST_ENTITY_TOO_LARGE")) setResult({ errors: [refusal] });
    },
  };
}

/** Every document limit, in the order they apply. */
export function useRequestLimits(limits: RequestLimits): Plugin<Context>[] {
  return [useArmor(limits), useParseLimits(limits), useCostLimit(limits), useBodyLimitError(limits)];
}
