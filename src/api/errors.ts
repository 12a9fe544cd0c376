import { GraphQLError, type GraphQLFormattedError } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { Logger } from "pino";
import { ERROR_CODES, type ErrorCode, ForgeError } from "../errors.ts";
import { isDatabaseUnavailable } from "../store/db.ts";

/**
 * One error mapping for both transports (API.md, "Errors"). Every error a client sees, over
 * HTTP or graphql-ws, goes through `contractError`: it carries one code of the contract's
 * table and no other extension. Over HTTP, `useContractErrors` then sets the status the
 * GraphQL-over-HTTP specification asks for, from the codes, the accepted media type and
 * whether the response has data; yoga reads that status from the errors' `http` extension
 * and leaves the extension out of the body it writes.
 */

const CONTRACT_CODES = new Set<string>(ERROR_CODES);
const GRAPHQL_RESPONSE = "application/graphql-response+json";
const JSON_MEDIA = "application/json";

/**
 * Codes that yoga and GraphQL give requests they refuse before execution, all of them the
 * contract's BAD_USER_INPUT. graphql-js gives its own syntax, validation and variable
 * errors no code at all; those are recognized by having no path (see contractCode).
 */
const REQUEST_ERROR_CODES = new Set([
  "BAD_REQUEST",
  "REQUEST_ENTITY_TOO_LARGE",
  "GRAPHQL_PARSE_FAILED",
  "GRAPHQL_VALIDATION_FAILED",
  "PERSISTED_QUERY_NOT_FOUND",
  "PERSISTED_QUERY_NOT_SUPPORTED",
  "OPERATION_RESOLUTION_FAILURE",
]);

/** graphql-js's words for an argument that its variables made invalid, found during execution. */
const ARGUMENT_ERROR = /^Argument "[^"]+" (of required type .* was not provided|of non-null type .* must not be null|has invalid value )/;

/** A document with no operation of the given name, or several and no name, in the same words on both transports. */
export const NO_OPERATION_MESSAGE = "operationName: names no operation of the document (one is needed when it has several)";

/** The message a client sees: yoga's own words for a missing operation replaced by the one used over graphql-ws too. */
function contractMessage(error: GraphQLError): string {
  return error.extensions?.code === "OPERATION_RESOLUTION_FAILURE" ? NO_OPERATION_MESSAGE : error.message;
}

/** The contract's code for any GraphQL error, whoever made it. */
export function contractCode(error: GraphQLError | GraphQLFormattedError): ErrorCode {
  const code = error.extensions?.code;
  if (typeof code === "string" && CONTRACT_CODES.has(code)) return code as ErrorCode;
  if (typeof code === "string" && REQUEST_ERROR_CODES.has(code)) return "BAD_USER_INPUT";
  // An error without a path was raised before execution: the request itself is refused.
  if (!error.path) return "BAD_USER_INPUT";
  // At a path, graphql-js's own errors that got past the masker unmasked are the server's
  // fault (a null in a non-null field, a value an enum cannot represent), except an
  // argument the caller's variables made invalid (a null through a variable with a default),
  // which graphql-js only finds when it reaches the field (values.js, getArgumentValues).
  return ARGUMENT_ERROR.test(error.message) ? "BAD_USER_INPUT" : "INTERNAL_SERVER_ERROR";
}

/** `error` in the contract's words, with these extensions: its locations, path and cause kept. */
function inContractWords(error: GraphQLError, extensions: Record<string, unknown>): GraphQLError {
  return new GraphQLError(contractMessage(error), {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    originalError: error.originalError,
    extensions,
  });
}

/** `error` as the client sees it: its message, locations and path, and the contract's code alone. */
export function contractError(error: GraphQLError): GraphQLError {
  const code = contractCode(error);
  if (error.extensions?.code === code && Object.keys(error.extensions).length === 1) return error;
  return inContractWords(error, { code });
}

/** The same for an error graphql-ws has formatted already (its onNext and onError hand those over). */
export function contractFormattedError(error: GraphQLError | GraphQLFormattedError): GraphQLFormattedError {
  const formatted = error instanceof GraphQLError ? error.toJSON() : error;
  return { ...formatted, extensions: { code: contractCode(formatted) } };
}

export function forgeGraphQLError(error: ForgeError, from?: GraphQLError): GraphQLError {
  return new GraphQLError(error.message, {
    nodes: from?.nodes,
    source: from?.source,
    positions: from?.positions,
    path: from?.path,
    originalError: error,
    extensions: { code: error.code },
  });
}

/**
 * Turns whatever a resolver threw into what the client sees: domain errors keep their
 * message and get their code; GraphQL's own errors (syntax, validation) pass through; a
 * database that cannot be reached (a PostgreSQL restart, a locked SQLite file) is
 * SERVICE_UNAVAILABLE, which tells the client to retry; anything else is logged and
 * answered with a message that reveals nothing (unless `development`, where the message
 * helps whoever is at the keyboard).
 */
export function createErrorMasker(log: Logger, development: boolean) {
  return (error: unknown): Error => {
    const graphqlError = error instanceof GraphQLError ? error : null;
    const original = graphqlError ? graphqlError.originalError : error;
    if (original instanceof ForgeError) return forgeGraphQLError(original, graphqlError ?? undefined);
    // GraphQL's own errors pass as they are. The outer one is kept when it wraps another:
    // it is the one that says where (`Variable "$input" got invalid value ... at "input.mode"`).
    if (graphqlError && (!original || original instanceof GraphQLError)) return graphqlError;
    if (isDatabaseUnavailable(original)) {
      log.warn({ err: original }, "database unavailable");
      return new GraphQLError("the database is unavailable right now (restarting or unreachable); try again shortly", {
        nodes: graphqlError?.nodes,
        path: graphqlError?.path,
        extensions: { code: "SERVICE_UNAVAILABLE" },
      });
    }
    log.error({ err: original }, "internal error");
    const message = development && original instanceof Error ? original.message : "Internal server error";
    return new GraphQLError(message, {
      nodes: graphqlError?.nodes,
      path: graphqlError?.path,
      extensions: { code: "INTERNAL_SERVER_ERROR" },
    });
  };
}

/**
 * The HTTP status of a response whose data is null or absent, for a client that accepts
 * `application/graphql-response+json`, by the contract's code. A BAD_USER_INPUT raised
 * before execution (no `data` entry at all) is a request error, 400; one raised by a
 * resolver (`data: null`) is answered 200, as the specification recommends for a response
 * with a data entry.
 */
const STATUS_WITHOUT_DATA: Record<ErrorCode, number> = {
  BAD_USER_INPUT: 400,
  FORBIDDEN: 403,
  NOT_FOUND: 200,
  CONFLICT: 200,
  SERVICE_UNAVAILABLE: 503,
  INTERNAL_SERVER_ERROR: 500,
};

interface HttpExtension {
  status?: number;
  headers?: Record<string, string>;
  spec?: boolean;
}

/**
 * Refusals of a request that is no GraphQL-over-HTTP request at all: a body that is not a
 * JSON object or lacks a query (yoga's BAD_REQUEST), a body over the size limit, a method
 * or media type yoga does not take. They keep the status they were given, whatever the
 * client accepts.
 */
function isTransportRefusal(error: GraphQLError, status: number | undefined): boolean {
  const code = error.extensions?.code;
  return code === "BAD_REQUEST" || code === "REQUEST_ENTITY_TOO_LARGE" || status === 405 || status === 413 || status === 415;
}

/**
 * The status one error asks for. Every error but a transport refusal is marked `spec`,
 * which makes yoga answer 200 to a client that accepts only `application/json` (the
 * specification's rule for that media type).
 */
function httpExtension(error: GraphQLError, code: ErrorCode, executed: boolean, hasData: boolean): HttpExtension {
  const given = error.extensions?.http as HttpExtension | undefined;
  if (!executed && given?.status && isTransportRefusal(error, given.status)) return { status: given.status, headers: given.headers };
  if (hasData) return { status: 200, spec: true, headers: given?.headers };
  const status = code === "BAD_USER_INPUT" && executed ? 200 : STATUS_WITHOUT_DATA[code];
  return { status, spec: true, headers: given?.headers };
}

/**
 * Every error of an HTTP response in the contract's words, with its status (see
 * httpExtension); and a request without `Accept` answered as `application/graphql-response+json`
 * (yoga treats it as `*\/*` and answers plain JSON, the specification's default before 2025).
 * Runs after yoga has picked its result processor (yoga's own plugins come first).
 */
export function useContractErrors(): Plugin {
  return {
    onResultProcess: ({ request, result, setResult, resultProcessor, setResultProcessor }) => {
      if (Array.isArray(result) || Symbol.asyncIterator in result) return;
      if (resultProcessor && !request.headers.get("accept")?.trim()) setResultProcessor(resultProcessor, GRAPHQL_RESPONSE);
      const single = result as { data?: unknown; errors?: readonly GraphQLError[]; extensions?: Record<string, unknown> };
      if (!single.errors?.length) return;
      const executed = "data" in single;
      const hasData = single.data !== null && single.data !== undefined;
      const errors = single.errors.map((error) => {
        const code = contractCode(error);
        return inContractWords(error, { code, http: httpExtension(error, code, executed, hasData) });
      });
      setResult({ ...single, errors });
    },
  };
}

/**
 * The media type of a response, chosen as yoga chooses it, for the responses Forge writes
 * itself: the first range of `Accept` that names one of the two (charset utf-8 or none;
 * `q` is not weighed), where a wildcard means plain JSON. Without an `Accept` header it is
 * GraphQL over HTTP's own type: the specification's default since 2025 (useContractErrors
 * makes yoga answer so too).
 */
export function responseMediaType(accept: string | null): string {
  if (!accept?.trim()) return GRAPHQL_RESPONSE;
  for (const range of accept.replace(/\s/g, "").toLowerCase().split(",")) {
    const [type = "", ...params] = range.split(";");
    const charset = params.find((p) => p.startsWith("charset="));
    if (charset && charset !== "charset=utf-8") continue;
    if (type === GRAPHQL_RESPONSE) return GRAPHQL_RESPONSE;
    if (type === JSON_MEDIA || type === "application/*" || type === "*/*") return JSON_MEDIA;
  }
  return JSON_MEDIA;
}

/**
 * A request refused before yoga parses it (a foreign origin, a body a browser may send
 * across origins, a missing FORGE_API_TOKEN): the contract's error, in the media type the
 * client accepts, with the status of a refusal (these are not GraphQL requests yet, so the
 * 200 of `application/json` does not apply).
 */
export function refusalResponse(
  fetchAPI: { Response: typeof Response },
  request: Request,
  status: number,
  error: { code: ErrorCode; message: string },
): Response {
  const body = JSON.stringify({ errors: [{ message: error.message, extensions: { code: error.code } }] });
  const type = responseMediaType(request.headers.get("accept"));
  return new fetchAPI.Response(body, { status, headers: { "content-type": `${type}; charset=utf-8` } });
}
