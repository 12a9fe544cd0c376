import type { IncomingMessage } from "node:http";
import type { CORSOptions, Plugin } from "graphql-yoga";
import type { ErrorCode } from "../errors.ts";
import type { Context } from "./context.ts";
import { refusalResponse } from "./errors.ts";

/**
 * What a browser page may do with Forge (API.md, "Browsers").
 *
 * Forge authenticates with bearer tokens, but with FORGE_API_TOKEN unset `createRun` is open
 * to anyone who can reach the port, and a browser can be made to reach it from any page.
 * So a request that carries a foreign `Origin` is refused before anything runs (403), over
 * HTTP and for a WebSocket upgrade alike, unless FORGE_CORS_ORIGINS lists that origin. Only
 * browsers send `Origin` on cross-origin requests; a request without one (curl, a server,
 * a same-origin navigation) is not cross-origin.
 *
 * A browser sends some requests across origins without asking first (no CORS preflight):
 * form posts and `text/plain` bodies, which a page can send from any origin, and old
 * browsers without an `Origin`. GraphQL over HTTP needs none of them, so a POST body must
 * be JSON, which no page can send to another origin without the preflight that the origin
 * check refuses.
 */
export class OriginPolicy {
  readonly #listed: ReadonlySet<string>;
  readonly #loopbackOnly: boolean;

  /**
   * `listenHost` is FORGE_HOST. A server listening on loopback only (the default) can be
   * reached from a browser only through a name that resolves to loopback, and a page that
   * rebinds its own name to 127.0.0.1 (DNS rebinding) would be "same origin" with it: there,
   * a same-origin request must also name the server by a loopback name or address.
   */
  constructor(listed: readonly string[], listenHost = "127.0.0.1") {
    this.#listed = new Set(listed);
    this.#loopbackOnly = isLoopbackName(listenHost);
  }

  /** Whether FORGE_CORS_ORIGINS lists the origin (which then gets CORS headers). */
  lists(origin: string): boolean {
    return this.#listed.has(origin);
  }

  /**
   * Whether a request with this `Origin` (null: none) may go on, given the origin the request
   * itself was sent to (scheme, host and port as the Host header gives them).
   */
  allows(origin: string | null, own: string | null): boolean {
    if (origin === null || this.#listed.has(origin)) return true;
    if (origin !== own) return false;
    return !this.#loopbackOnly || isLoopbackName(new URL(origin).hostname);
  }
}

/** localhost (and its subdomains), 127.0.0.0/8 and ::1: the names a loopback-only server answers to. */
function isLoopbackName(host: string): boolean {
  const name = host
    .toLowerCase()
    .replace(/^\[|\]$/g, "")
    .replace(/\.$/, "");
  return name === "localhost" || name.endsWith(".localhost") || name === "::1" || /^127(\.\d{1,3}){3}$/.test(name);
}

/** The origin a request was addressed to, from its scheme and Host header; null if the Host is not one. */
export function addressedOrigin(scheme: "http" | "https", host: string | undefined): string | null {
  if (!host) return null;
  const url = `${scheme}://${host}`;
  return URL.canParse(url) ? new URL(url).origin : null;
}

function foreignOriginError(origin: string): { code: ErrorCode; message: string } {
  return {
    code: "FORBIDDEN",
    message: `requests from the origin ${origin} are refused: FORGE_CORS_ORIGINS lists the origins allowed besides the API's own`,
  };
}

/** The body types yoga reads as JSON (media types are case-insensitive); a browser preflights every one of them across origins. */
export const JSON_BODY = /^\s*application\/(graphql\+)?json\s*(;|$)/i;

/**
 * yoga's `cors` option: CORS headers for the listed origins only. Same-origin requests need
 * none, and foreign ones are refused by useOriginPolicy.
 */
export function corsOptions(policy: OriginPolicy): (request: Request) => CORSOptions {
  return (request) => {
    const origin = request.headers.get("origin");
    if (origin === null || !policy.lists(origin)) return false;
    return {
      origin: [origin],
      credentials: true,
      methods: ["GET", "POST", "OPTIONS"],
      allowedHeaders: ["Authorization", "Content-Type", "Accept"],
      // Browsers cache the preflight's answer this long (seconds), instead of asking before every request.
      maxAge: 600,
    };
  };
}

/**
 * Refuses requests from foreign origins (403, FORBIDDEN) and POST bodies that are not JSON
 * (415, BAD_USER_INPUT), before yoga reads the body.
 *
 * yoga's `@graphql-yoga/plugin-csrf-prevention` does not fit the contract: it refuses every
 * request without a preflighted content type unless it carries a custom header, which
 * would refuse plain GET queries (curl, GraphiQL's links) and answers 403 without the
 * contract's code; nor does it look at `Origin`. yoga's `cors` option only adds headers
 * (a browser then hides the answer, but the operation has already run), so the refusal
 * is here. A preflight (OPTIONS) is answered by yoga's CORS plugin before this one, with
 * CORS headers only for listed origins.
 */
export function useOriginPolicy(policy: OriginPolicy): Plugin<Context> {
  return {
    onRequest: ({ request, url, endResponse, fetchAPI }) => {
      const origin = request.headers.get("origin");
      if (!policy.allows(origin, url.origin)) {
        endResponse(refusalResponse(fetchAPI, request, 403, foreignOriginError(origin as string)));
        return;
      }
      if (request.method === "POST" && !JSON_BODY.test(request.headers.get("content-type") ?? "")) {
        endResponse(
          refusalResponse(fetchAPI, request, 415, {
            code: "BAD_USER_INPUT",
            message:
              "POST bodies must be application/json (Content-Type: application/json): form posts and text/plain bodies are refused, because a page on any origin can send them",
          }),
        );
      }
    },
    onResponse: ({ request, response }) => {
      // Whether a response carries CORS headers depends on the request's Origin.
      if (request.headers.has("origin") && !/\borigin\b/i.test(response.headers.get("vary") ?? "")) {
        response.headers.append("vary", "Origin");
      }
    },
  };
}

/**
 * ws' `verifyClient`: the same rule for WebSocket upgrades, checked before the upgrade
 * completes; a refused one is answered with HTTP 403.
 */
export function verifyWebSocketOrigin(policy: OriginPolicy) {
  return (
    info: { origin: string; secure: boolean; req: IncomingMessage },
    done: (result: boolean, code?: number, message?: string) => void,
  ): void => {
    const origin = info.origin || null; // ws reads Origin (or Sec-WebSocket-Origin from old clients)
    const own = addressedOrigin(info.secure ? "https" : "http", info.req.headers.host);
    if (policy.allows(origin, own)) done(true);
    else done(false, 403, foreignOriginError(origin as string).message);
  };
}
