import { type Client, createClient } from "graphql-ws";
import WebSocket from "ws";

/**
 * A small client of Forge's GraphQL API for the command line: queries and mutations over
 * HTTP, subscriptions over graphql-ws. Every failure becomes a CliError whose message is the
 * one line `forge` prints: the API's code and message, or why the server could not be reached.
 */

/** Exit codes the command line relies on (its help text lists them). */
export const EXIT = {
  ok: 0,
  /** An API error, a network failure, a run that failed. */
  failure: 1,
  /** A usage error (bad option or argument), and a tailed run that was cancelled. */
  usage: 2,
  cancelled: 2,
} as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failure,
  ) {
    super(message);
    this.name = "CliError";
  }
}

/** Bad input refused before any request is sent. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT.usage);
    this.name = "UsageError";
  }
}

/** An error the API answered with: its `extensions.code` and message. */
export class ApiError extends CliError {
  constructor(
    readonly code: string,
    readonly apiMessage: string,
  ) {
    super(`${code}: ${apiMessage}`);
    this.name = "ApiError";
  }
}

/** The server could not be reached (or the connection broke) before it answered. */
export class NetworkError extends CliError {
  constructor(url: string, reason: string) {
    super(`cannot reach ${url}: ${reason}`);
    this.name = "NetworkError";
  }
}

interface GraphQLErrorJson {
  message?: unknown;
  extensions?: { code?: unknown };
}

/** The first error of an answer as an ApiError (a missing code is INTERNAL_SERVER_ERROR, as the API's own). */
export function apiError(errors: readonly GraphQLErrorJson[]): ApiError {
  const first = errors[0] ?? {};
  const code = typeof first.extensions?.code === "string" ? first.extensions.code : "INTERNAL_SERVER_ERROR";
  const message = typeof first.message === "string" ? first.message : "the server gave no message";
  return new ApiError(code, message.replace(/\s*\n\s*/g, " "));
}

/** Why a connection failed, in words: the system error's code when there is one. */
export function networkReason(error: unknown): string {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current instanceof Error && !seen.has(current)) {
    seen.add(current);
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === "string" && code in REASONS) return REASONS[code] as string;
    if (current.cause === undefined) break;
    current = current.cause;
  }
  const last = current instanceof Error ? current.message : String(current);
  return last.replace(/\s*\n\s*/g, " ");
}

const REASONS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name lookup failed",
  ETIMEDOUT: "connection timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  UND_ERR_CONNECT_TIMEOUT: "connection timed out",
  UND_ERR_SOCKET: "connection closed by the server",
};

export interface ClientOptions {
  /** The GraphQL endpoint, e.g. http://127.0.0.1:4000/graphql. */
  url: string;
  /** Sent as `Authorization: Bearer <token>` (over graphql-ws as a connection param). */
  token: string | null;
}

export class ForgeClient {
  readonly url: string;
  private readonly token: string | null;

  constructor(options: ClientOptions) {
    this.url = options.url;
    this.token = options.token;
  }

  /** Runs a query or mutation; resolves to its data, or rejects with the first error. */
  async request<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    const headers: Record<string, string> = {
      "content-type": "application/json",
      accept: "application/graphql-response+json, application/json;q=0.9",
    };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let response: Response;
    try {
      response = await fetch(this.url, { method: "POST", headers, body: JSON.stringify({ query, variables }) });
    } catch (error) {
      throw new NetworkError(this.url, networkReason(error));
    }
    const text = await response.text().catch((error: unknown) => {
      throw new NetworkError(this.url, networkReason(error));
    });
    let body: { data?: T | null; errors?: GraphQLErrorJson[] };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new CliError(`${this.url} is not a Forge GraphQL endpoint: HTTP ${response.status} with a body that is not JSON`);
    }
    if (body.errors && body.errors.length > 0) throw apiError(body.errors);
    if (body.data === undefined || body.data === null) {
      throw new CliError(`${this.url} is not a Forge GraphQL endpoint: HTTP ${response.status} with no data`);
    }
    return body.data;
  }

  /** The server's base URL (without /graphql), where /healthz and /readyz are. */
  get origin(): string {
    return new URL(this.url).origin;
  }

  /** GET on one of the server's plain HTTP routes (/readyz); resolves to its status and JSON body. */
  async route(path: string): Promise<{ status: number; body: unknown }> {
    const url = new URL(path, this.url).toString();
    let response: Response;
    try {
      response = await fetch(url);
    } catch (error) {
      throw new NetworkError(url, networkReason(error));
    }
    const body = await response.json().catch(() => null);
    return { status: response.status, body };
  }

  /** A graphql-ws client on the same path, connecting on first use and never retrying by itself. */
  webSocket(on: { connected?: () => void } = {}): Client {
    return createClient({
      on: { connected: () => on.connected?.() },
      url: this.url.replace(/^http/, "ws"),
      webSocketImpl: WebSocket,
      connectionParams: this.token ? { authorization: `Bearer ${this.token}` } : {},
      lazy: true,
      // Reconnecting is the caller's: it must resubscribe from the last event it saw,
      // which graphql-ws's own retries (the same variables again) would not do.
      retryAttempts: 0,
    });
  }
}
