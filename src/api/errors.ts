import { GraphQLError } from "graphql";
import type { Logger } from "pino";
import { ForgeError } from "../errors.ts";
import { isDatabaseUnavailable } from "../store/db.ts";

/** HTTP status for each domain error when it is the only error of a response (API.md, "Errors"). */
const HTTP_STATUS: Record<ForgeError["code"], number> = {
  BAD_USER_INPUT: 200,
  FORBIDDEN: 403,
  NOT_FOUND: 200,
  CONFLICT: 200,
};

export function forgeGraphQLError(error: ForgeError, from?: GraphQLError): GraphQLError {
  return new GraphQLError(error.message, {
    nodes: from?.nodes,
    source: from?.source,
    positions: from?.positions,
    path: from?.path,
    originalError: error,
    extensions: { code: error.code, http: { status: HTTP_STATUS[error.code] } },
  });
}

/**
 * Turns whatever a resolver threw into what the client sees: domain errors keep their
 * message and get their code; GraphQL's own errors (syntax, validation) pass through; a
 * database that cannot be reached (a PostgreSQL restart, a locked SQLite file) is
 * SERVICE_UNAVAILABLE with HTTP 503, which tells the client to retry; anything else is
 * logged and answered with a message that reveals nothing (unless `development`, where
 * the message helps whoever is at the keyboard).
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
        extensions: { code: "SERVICE_UNAVAILABLE", http: { status: 503 } },
      });
    }
    log.error({ err: original }, "internal error");
    const message = development && original instanceof Error ? original.message : "Internal server error";
    return new GraphQLError(message, {
      nodes: graphqlError?.nodes,
      path: graphqlError?.path,
      extensions: { code: "INTERNAL_SERVER_ERROR", http: { status: 500 } },
    });
  };
}

const GRAPHQL_RESPONSE = "application/graphql-response+json";
const JSON_MEDIA = "application/json";

/**
 * The media type for a response: GraphQL over HTTP's own when the client accepts it or says
 * nothing (`Accept` absent), plain JSON when it accepts that and not the former.
 */
export function responseMediaType(accept: string | null): string {
  if (!accept?.trim()) return GRAPHQL_RESPONSE;
  const ranges = accept.split(",").map((range) => {
    const [type = "", ...params] = range.split(";").map((part) => part.trim().toLowerCase());
    const q = params.find((p) => p.startsWith("q="));
    return { type, weight: q ? Number(q.slice(2)) : 1 };
  });
  const accepted = (type: string) => ranges.some((r) => r.type === type && r.weight > 0);
  if (accepted(GRAPHQL_RESPONSE)) return GRAPHQL_RESPONSE;
  if (accepted(JSON_MEDIA)) return JSON_MEDIA;
  if (accepted("application/*") || accepted("*/*")) return GRAPHQL_RESPONSE;
  return JSON_MEDIA;
}

/**
 * A request refused before yoga parses it (a foreign origin, a body that is not JSON, a
 * missing FORGE_API_TOKEN): the contract's error in the media type the client accepts.
 */
export function refusalResponse(
  fetchAPI: { Response: typeof Response },
  request: Request,
  status: number,
  error: { code: string; message: string },
): Response {
  const body = JSON.stringify({ errors: [{ message: error.message, extensions: { code: error.code } }] });
  const type = responseMediaType(request.headers.get("accept"));
  return new fetchAPI.Response(body, { status, headers: { "content-type": `${type}; charset=utf-8` } });
}
