import { isIP } from "node:net";
import { type Agent, fetch, type Response } from "undici";
import { SECOND } from "../../clock.ts";
import { type DestinationRules, Destinations } from "../../domain/destination.ts";
import type { Logger } from "../../log.ts";
import { ConnectFailure, guardedAgent } from "./http-agent.ts";
import type { StepContext, StepHandler } from "./registry.ts";

/**
 * `{ "url", "method", "headers", "body", "expectStatus" }`: one HTTP request.
 *
 * LIVE: performs it, bounded by the step's timeout (its AbortSignal), and succeeds with
 * `{ status, headers, body }` when the status is expected (200-299 unless `expectStatus`
 * says otherwise); any other status fails the attempt. The body is read as UTF-8 text up
 * to HTTP_BODY_MAX_BYTES (`bodyTruncated: true` when there was more), or as base64
 * (`bodyEncoding: "base64"`) when it holds a NUL byte.
 * DRY_RUN: sends nothing; succeeds with `{ dryRun: true, request }`.
 *
 * A `body` that is not a string is sent as JSON (content-type application/json unless
 * the headers set one). Redirects are answered as they are (a 3xx status) unless
 * `followRedirects` is true; then the output has the final `url`.
 *
 * Internal addresses (loopback, private, link-local, ...: domain/destination.ts) are
 * refused unless the options open them: an IP literal at createRun, and every connection
 * (each redirect's too) on the address it resolves to. A connection that cannot be made
 * fails with one message whatever the reason (CONNECT_FAILED_HINT), so that a caller
 * cannot tell a closed port from a filtered one, an unknown name or a refused address;
 * the reason goes to the server's log.
 */
export const HTTP_BODY_MAX_BYTES = 64 * 1024;
const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const RANGE = /^([1-5]\d\d)-([1-5]\d\d)$/;
/** Headers the client sets itself: a value given here would break the request. */
const CLIENT_HEADERS = new Set([
  "connection",
  "content-length",
  "expect",
  "host",
  "keep-alive",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);
/** Ports fetch refuses to connect to (the Fetch standard's "bad ports"). */
const BAD_PORTS = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109, 110, 111, 113, 115, 117,
  119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636,
  989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
]);

/** Ends the message of every connection that could not be made, whatever the reason. */
export const CONNECT_FAILED_HINT =
  "refused, unreachable, not resolvable, or not allowed: internal addresses need FORGE_HTTP_ALLOW_HOSTS or FORGE_HTTP_ALLOW_PRIVATE";

export interface HttpStepOptions extends Partial<DestinationRules> {
  /** Where the precise reason of a connection that could not be made goes (nowhere when absent). */
  log?: Logger;
}

interface HttpRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | null;
}

/**
 * The `http` step type. Without options it reaches only globally routable addresses;
 * `allowPrivate` and `allowHosts` are FORGE_HTTP_ALLOW_PRIVATE and FORGE_HTTP_ALLOW_HOSTS.
 */
export function httpStep(options: HttpStepOptions = {}): StepHandler {
  const destinations = new Destinations(options);
  const { log } = options;
  // Made at the first request: a registry that never runs an http step opens nothing.
  let agent: Agent | null = null;
  return {
    type: "http",
    sideEffects: true,
    defaultTimeoutMs: 30 * SECOND,
    checkParams(params) {
      const problem = paramsProblem(params);
      if (problem !== null) return problem;
      // Names are checked when they are resolved, at connect time; an address can be checked now.
      const host = new URL(params.url as string).hostname.replace(/^\[(.*)\]$/, "$1");
      const refusal = isIP(host) === 0 ? null : destinations.refusal(host);
      return refusal === null ? null : `"url": ${refusal}; internal addresses need FORGE_HTTP_ALLOW_HOSTS or FORGE_HTTP_ALLOW_PRIVATE`;
    },
    async run(ctx) {
      const request = requestOf(ctx);
      const expected = expectedStatus(ctx.params.expectStatus ?? "200-299") as (status: number) => boolean;
      let response: Response;
      try {
        agent ??= guardedAgent(destinations);
        response = await fetch(request.url, {
          method: request.method,
          headers: withTraceContext(request.headers, ctx.traceHeaders),
          body: request.body,
          // Not followed unless asked: a redirect could carry the headers (an API key) to another origin.
          redirect: ctx.params.followRedirects === true ? "follow" : "manual",
          signal: ctx.signal,
          dispatcher: agent,
        });
      } catch (error) {
        if (ctx.signal.aborted) throw ctx.signal.reason;
        throw requestError(request, error, ctx, log);
      }
      const { body, encoding, truncated } = await readCapped(response, HTTP_BODY_MAX_BYTES);
      if (!expected(response.status)) {
        const describe = typeof ctx.params.expectStatus === "undefined" ? "200-299" : JSON.stringify(ctx.params.expectStatus);
        const from = response.redirected ? `${request.url} (redirected to ${response.url})` : request.url;
        throw new Error(`${request.method} ${from} answered ${response.status}, expected ${describe}`);
      }
      return {
        status: response.status,
        ...(response.redirected ? { url: response.url } : {}),
        headers: Object.fromEntries(response.headers),
        body,
        ...(encoding === "base64" ? { bodyEncoding: "base64" } : {}),
        ...(truncated ? { bodyTruncated: true } : {}),
      };
    },
    dryRun(ctx) {
      return { dryRun: true, request: requestOf(ctx) };
    },
  };
}

/** What is wrong with an http step's params, or null; the destination is checked by the handler. */
function paramsProblem(params: Record<string, unknown>): string | null {
  const url = params.url;
  if (typeof url !== "string" || !URL.canParse(url)) return `"url" must be an absolute http:// or https:// URL`;
  const parsed = new URL(url);
  if (!["http:", "https:"].includes(parsed.protocol)) return `"url" must be an absolute http:// or https:// URL`;
  if (parsed.username || parsed.password) return `"url" must not hold credentials (send them in "headers")`;
  if (parsed.port && BAD_PORTS.has(Number(parsed.port))) return `"url": port ${parsed.port} is one HTTP clients refuse to use`;
  const method = params.method ?? "GET";
  if (typeof method !== "string" || !METHODS.includes(method.toUpperCase())) return `"method" must be one of ${METHODS.join(", ")}`;
  const headers = params.headers;
  if (headers !== undefined) {
    if (typeof headers !== "object" || headers === null || Array.isArray(headers)) return `"headers" must be an object of strings`;
    for (const [name, value] of Object.entries(headers)) {
      if (!HEADER_NAME.test(name)) return `"headers": "${name}" is not a valid header name`;
      if (CLIENT_HEADERS.has(name.toLowerCase())) return `"headers.${name}" is set by the HTTP client and cannot be given`;
      if (typeof value !== "string" || /[\r\n\0]/.test(value)) return `"headers.${name}" must be a string without line breaks`;
      if ([...value].some((c) => c !== "\t" && ((c.codePointAt(0) as number) < 0x20 || c === "\x7f"))) {
        return `"headers.${name}" must not contain control characters`;
      }
      if ([...value].some((c) => (c.codePointAt(0) as number) > 0xff))
        return `"headers.${name}" must be Latin-1 text (encode other characters)`;
    }
  }
  if (params.body !== undefined && ["GET", "HEAD"].includes(method.toUpperCase()))
    return `"body" cannot be sent with ${method.toUpperCase()}`;
  if (params.expectStatus !== undefined && expectedStatus(params.expectStatus) === null) {
    return `"expectStatus" must be a status (200), a range ("200-299"), or a list of them`;
  }
  if (params.followRedirects !== undefined && typeof params.followRedirects !== "boolean") return `"followRedirects" must be true or false`;
  return null;
}

/**
 * The error of a request that got no answer. A connection that could not be made gets the
 * same message whatever the reason, which only the log tells; anything else happened on a
 * connection that was open, to an address the rules allow, and keeps its cause (a reset,
 * an answer that is not HTTP, a redirect to a URL fetch refuses).
 */
function requestError(request: HttpRequest, error: unknown, ctx: StepContext, log: Logger | undefined): Error {
  // fetch says only "fetch failed"; its cause says what.
  const cause = (error as { cause?: unknown }).cause;
  if (cause instanceof ConnectFailure) {
    log?.warn(
      { runId: ctx.runId, stepId: ctx.stepId, attempt: ctx.attempt, url: request.url, target: cause.target, reason: reasonOf(cause.cause) },
      "http step could not connect",
    );
    return new Error(`${request.method} ${request.url} failed: could not connect to ${cause.target} (${CONNECT_FAILED_HINT})`);
  }
  const detail = cause as { message?: string; code?: string } | undefined;
  return new Error(`${request.method} ${request.url} failed: ${detail?.message ?? detail?.code ?? String(error)}`);
}

/** A connect error's code and message, for the log ("ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:4000"). */
function reasonOf(error: Error): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" ? `${code}: ${error.message}` : error.message;
}

function requestOf(ctx: StepContext): HttpRequest {
  const p = ctx.params;
  const headers: Record<string, string> = { ...((p.headers as Record<string, string> | undefined) ?? {}) };
  let body: string | null = null;
  if (typeof p.body === "string") body = p.body;
  else if (p.body !== undefined) {
    body = JSON.stringify(p.body);
    if (!Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) headers["content-type"] = "application/json";
  }
  return { method: ((p.method as string | undefined) ?? "GET").toUpperCase(), url: p.url as string, headers, body };
}

/** A predicate for `expectStatus`, or null when it is malformed. */
function expectedStatus(spec: unknown): ((status: number) => boolean) | null {
  const items = Array.isArray(spec) ? spec : [spec];
  if (items.length === 0) return null;
  const ranges: Array<[number, number]> = [];
  for (const item of items) {
    if (typeof item === "number" && Number.isInteger(item) && item >= 100 && item <= 599) ranges.push([item, item]);
    else if (typeof item === "string" && RANGE.test(item)) {
      const [, lo, hi] = RANGE.exec(item) as RegExpExecArray;
      if (Number(lo) > Number(hi)) return null;
      ranges.push([Number(lo), Number(hi)]);
    } else return null;
  }
  return (status) => ranges.some(([lo, hi]) => status >= lo && status <= hi);
}

/**
 * The body, at most `max` bytes of it (the rest is not downloaded): as UTF-8 text, or, when
 * it holds a NUL byte (a binary body: an archive, an image), as base64. Text with a NUL
 * could not be stored, and a step that fetched what it asked for must not fail for it.
 */
async function readCapped(response: Response, max: number): Promise<{ body: string; encoding: "utf8" | "base64"; truncated: boolean }> {
  if (!response.body) return { body: "", encoding: "utf8", truncated: false };
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const room = max - size;
    if (value.byteLength > room) {
      chunks.push(value.subarray(0, room));
      size = max;
      truncated = true;
      await reader.cancel();
      break;
    }
    chunks.push(value);
    size += value.byteLength;
  }
  const bytes = Buffer.concat(chunks);
  if (bytes.includes(0)) return { body: bytes.toString("base64"), encoding: "base64", truncated };
  // A cut may fall inside a multi-byte character: the decoder replaces the fragment (as it
  // does any byte that is not UTF-8), so the text is always well-formed.
  return { body: bytes.toString("utf8"), encoding: "utf8", truncated };
}

/** The step's headers, with the attempt's trace context added unless the step sets its own `traceparent`. */
function withTraceContext(headers: Record<string, string>, trace: Readonly<Record<string, string>>): Record<string, string> {
  if (Object.keys(trace).length === 0) return headers;
  const own = new Set(Object.keys(headers).map((name) => name.toLowerCase()));
  if (own.has("traceparent")) return headers;
  return { ...trace, ...headers };
}
