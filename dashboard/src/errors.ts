import type { CombinedError } from "urql";

/**
 * The API's own words for a failed operation: the messages of its GraphQL errors (with their
 * code), or, when none came back, why the request did not reach it.
 */
export function errorText(error: CombinedError): string {
  if (error.graphQLErrors.length > 0) {
    return error.graphQLErrors
      .map((e) => {
        const code = e.extensions?.code;
        return typeof code === "string" ? `${code}: ${e.message}` : e.message;
      })
      .join("; ");
  }
  const network = error.networkError as unknown;
  // graphql-ws ends a refused connection with a close event (4403 Forbidden), not an Error.
  if (network && typeof network === "object" && "code" in network && "reason" in network) {
    const close = network as { code: number; reason: string };
    return `the subscription was closed: ${close.code} ${close.reason || "(no reason given)"}`;
  }
  return error.networkError?.message ?? error.message;
}
