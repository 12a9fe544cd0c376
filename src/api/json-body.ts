import { GraphQLError } from "graphql";
import type { GraphQLParams, Plugin } from "graphql-yoga";
import { JSON_BODY } from "./browser.ts";

/**
 * JSON.parse of a request body at the 4 MiB limit holds the event loop for 100 to 160 ms on
 * a small server (API.md, "The event loop": no request may hold it past about 100 ms). This
 * parses a large text in pieces, with turns of the event loop between them, and gives the
 * same value JSON.parse would, or fails where JSON.parse would.
 *
 * Written here because the incremental parsers on npm read the text a character at a time in
 * JavaScript: yieldable-json took 6.3 s (39 times JSON.parse) on such a body, and it and
 * @streamparser/json make a `"__proto__"` key the object's prototype, where JSON.parse makes
 * it an own property. Here JSON.parse still does the parsing: only the few containers too
 * large to parse in one piece are walked by this code, one member at a time, and every
 * member small enough (by its length in the text) goes to JSON.parse whole.
 *
 * One difference: large containers (longer than a piece) nested more than `maxDepth` levels
 * are refused (TooDeep). Each such level costs a piece's length of scanning; unbounded, a
 * text of nested brackets would cost its depth times that.
 */

/** Texts up to this length are parsed in one call (a few milliseconds). */
const WHOLE_CHARS = 256 * 1024;
/** A member up to this long is parsed in one call; a longer container is walked member by member. */
const PIECE_CHARS = 32 * 1024;
/** Work between turns of the event loop. */
const SLICE_MS = 10;

export interface PieceOptions {
  /** Texts up to this length are parsed in one JSON.parse call. */
  wholeChars?: number;
  /** Members up to this long are parsed in one JSON.parse call. */
  pieceChars?: number;
  sliceMs?: number;
  /** How many large containers may be nested. */
  maxDepth?: number;
  /** Stops the parse (it rejects with the signal's reason): the client has gone. */
  signal?: AbortSignal;
}

/** The text nests more than `maxDepth` large containers. */
export class TooDeep extends Error {
  constructor(readonly maxDepth: number) {
    super(`nests arrays and objects more than ${maxDepth} levels deep`);
  }
}

const SPACE = 0x20;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const BRACE_L = 0x7b;
const BRACE_R = 0x7d;
const BRACKET_L = 0x5b;
const BRACKET_R = 0x5d;

/** A container being filled: an array, or an object with the key of the member being read. */
interface Frame {
  value: unknown[] | Record<string, unknown>;
  key: string | null;
}

function invalid(position: number, problem: string): SyntaxError {
  return new SyntaxError(`invalid JSON at position ${position}: ${problem}`);
}

function skipSpace(text: string, at: number): number {
  let i = at;
  for (;;) {
    const c = text.charCodeAt(i);
    if (c !== SPACE && c !== TAB && c !== LF && c !== CR) return i;
    i++;
  }
}

/** The end of the string token opening at `at` (past its closing quote), or text.length when it is not closed. */
function stringEnd(text: string, at: number): number {
  for (let i = at + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === BACKSLASH) i++;
    else if (c === QUOTE) return i + 1;
  }
  return text.length;
}

function parsePiece(text: string, start: number, end: number): unknown {
  try {
    return JSON.parse(text.slice(start, end));
  } catch (error) {
    throw invalid(start, `in the value starting here: ${(error as Error).message}`);
  }
}

/** Sets a member as JSON.parse does: an own, enumerable property, even for "__proto__". */
function setMember(object: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
}

/**
 * One large parse at a time in the process: two of them in flight would each take their
 * slice in the same turn of the event loop, and ten would hold it for ten slices. Queued,
 * they take longer to finish, and the loop turns as often as with one.
 */
let queueTail: Promise<void> = Promise.resolve();
function takeTurn(): Promise<() => void> {
  let release: () => void = () => {};
  const mine = new Promise<void>((resolve) => {
    release = resolve;
  });
  const before = queueTail;
  queueTail = before.then(() => mine);
  return before.then(() => release);
}

/** JSON.parse(text), with turns of the event loop while a large text is parsed. */
export async function parseJsonInPieces(text: string, options: PieceOptions = {}): Promise<unknown> {
  if (text.length <= (options.wholeChars ?? WHOLE_CHARS)) return JSON.parse(text);
  const release = await takeTurn();
  try {
    return await parseLarge(text, options);
  } finally {
    release();
  }
}

async function parseLarge(text: string, options: PieceOptions): Promise<unknown> {
  const pieceChars = options.pieceChars ?? PIECE_CHARS;
  const sliceMs = options.sliceMs ?? SLICE_MS;
  const maxDepth = options.maxDepth ?? 128;
  let slice = performance.now();
  const turn = async () => {
    if (performance.now() - slice <= sliceMs) return;
    await new Promise((resolve) => setImmediate(resolve));
    options.signal?.throwIfAborted();
    slice = performance.now();
  };
  options.signal?.throwIfAborted();

  // One pass first: where each bracket's container ends (0: it does not), strings skipped.
  // Then the size of any container is known at once, and no part of the text is scanned
  // again however its containers nest.
  const closeAt = new Int32Array(text.length);
  const open: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if ((i & 0xffff) === 0) await turn();
    const c = text.charCodeAt(i);
    if (c === QUOTE) i = stringEnd(text, i) - 1;
    else if (c === BRACE_L || c === BRACKET_L) open.push(i);
    else if (c === BRACE_R || c === BRACKET_R) {
      const start = open.pop();
      if (start !== undefined) closeAt[start] = i + 1;
    }
  }

  /**
   * Where the value starting at `at` ends, if it is no longer than a piece; -1 when it is a
   * container longer than that. Brackets are paired without checking that they match:
   * JSON.parse checks each piece, and the walk below each container it opens.
   */
  const pieceEnd = (at: number): number => {
    const first = text.charCodeAt(at);
    if (first === QUOTE) return stringEnd(text, at);
    if (first === BRACE_L || first === BRACKET_L) {
      const end = closeAt[at] || text.length; // not closed: JSON.parse says so
      return end - at <= pieceChars ? end : -1;
    }
    // A number or a literal: up to the next delimiter.
    let i = at;
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === COMMA || c === BRACE_R || c === BRACKET_R || c === SPACE || c === TAB || c === LF || c === CR) break;
    }
    return i;
  };

  /**
   * The end of the longest run of members from `at` (an array's elements, or an object's
   * `"key": value` members) that fits in a piece, or -1 when the first does not fit.
   */
  const runEnd = (at: number, isArray: boolean): number => {
    let end = -1;
    let i = at;
    for (;;) {
      let valueAt = i;
      if (!isArray) {
        if (text.charCodeAt(i) !== QUOTE) return end;
        const colon = skipSpace(text, stringEnd(text, i));
        if (text.charCodeAt(colon) !== COLON) return end;
        valueAt = skipSpace(text, colon + 1);
      }
      if (valueAt >= text.length) return end;
      const valueEnd = pieceEnd(valueAt);
      // (An empty value, as in a trailing comma, is no member: the walk refuses it.)
      if (valueEnd <= valueAt || valueEnd - at > pieceChars) return end;
      end = valueEnd;
      const next = skipSpace(text, valueEnd);
      if (text.charCodeAt(next) !== COMMA) return end;
      i = skipSpace(text, next + 1);
    }
  };

  /** Parses the run of members from `at` to `end` in one call and adds them to `frame`. */
  const placeRun = (frame: Frame, at: number, end: number): void => {
    if (Array.isArray(frame.value)) {
      for (const item of parsePieceAs("[", at, end, "]") as unknown[]) frame.value.push(item);
      return;
    }
    const members = parsePieceAs("{", at, end, "}") as Record<string, unknown>;
    for (const key of Object.keys(members)) setMember(frame.value, key, members[key]);
  };
  const parsePieceAs = (before: string, at: number, end: number, after: string): unknown => {
    try {
      return JSON.parse(before + text.slice(at, end) + after);
    } catch (error) {
      throw invalid(at, `in the members starting here: ${(error as Error).message}`);
    }
  };

  // An explicit stack, not recursion: a text may nest a container thousands of levels deep.
  const stack: Frame[] = [];
  let root: unknown;
  let at = skipSpace(text, 0);

  /** Puts a finished value into its container (or makes it the result). */
  const place = (value: unknown): void => {
    const frame = stack.at(-1);
    if (!frame) {
      root = value;
      return;
    }
    if (Array.isArray(frame.value)) frame.value.push(value);
    else setMember(frame.value, frame.key as string, value);
  };

  for (;;) {
    await turn();
    // Here a value starts at `at`.
    if (at >= text.length) throw invalid(at, "the text ends where a value should start");
    const end = pieceEnd(at);
    if (end >= 0) {
      place(parsePiece(text, at, end));
      at = end;
    } else {
      // A large container: open it, and read its first member (or its end) below.
      const isArray = text.charCodeAt(at) === BRACKET_L;
      if (stack.length >= maxDepth) throw new TooDeep(maxDepth);
      const frame: Frame = { value: isArray ? [] : {}, key: null };
      stack.push(frame);
      at = skipSpace(text, at + 1);
      const run = runEnd(at, isArray);
      if (text.charCodeAt(at) === (isArray ? BRACKET_R : BRACE_R)) {
        // Empty, and yet longer than a piece: it holds that much white space.
        stack.pop();
        place(frame.value);
        at++;
      } else if (run >= 0) {
        placeRun(frame, at, run);
        at = run;
      } else {
        if (!isArray) at = readKey(text, at, frame);
        continue;
      }
    }
    // After a value: a comma and the next members, or the end of containers, or of the text.
    for (;;) {
      at = skipSpace(text, at);
      const frame = stack.at(-1);
      if (!frame) {
        if (at !== text.length) throw invalid(at, "more text after the value");
        return root;
      }
      const isArray = Array.isArray(frame.value);
      const c = text.charCodeAt(at);
      if (c === COMMA) {
        at = skipSpace(text, at + 1);
        const run = runEnd(at, isArray);
        if (run >= 0) {
          await turn();
          placeRun(frame, at, run);
          at = run;
          continue;
        }
        if (!isArray) at = readKey(text, at, frame);
        break;
      }
      if (c === (isArray ? BRACKET_R : BRACE_R)) {
        stack.pop();
        place(frame.value);
        at++;
        continue;
      }
      throw invalid(at, isArray ? "expected , or ] after an array element" : "expected , or } after an object member");
    }
  }
}

/** Reads `"key" :` at `at` into the frame; returns where the member's value starts. */
function readKey(text: string, at: number, frame: Frame): number {
  if (text.charCodeAt(at) !== QUOTE) throw invalid(at, "expected a string naming an object member");
  const end = stringEnd(text, at);
  frame.key = parsePiece(text, at, end) as string;
  const colon = skipSpace(text, end);
  if (text.charCodeAt(colon) !== COLON) throw invalid(colon, "expected : after an object member's name");
  return skipSpace(text, colon + 1);
}

/**
 * A request read from JSON (an HTTP body or a graphql-ws message), parsed in pieces: the
 * object it holds, or which of the ways a request can be malformed it is. Each transport
 * answers the problem in its own way.
 */
export type RequestJson =
  | { ok: true; value: object }
  | { ok: false; problem: "invalid"; error: Error }
  | { ok: false; problem: "too-deep"; error: TooDeep }
  | { ok: false; problem: "not-an-object"; got: string };

export async function readRequestJson(text: string, o: { maxNesting: number; signal?: AbortSignal }): Promise<RequestJson> {
  let value: unknown;
  try {
    value = await parseJsonInPieces(text, { maxDepth: o.maxNesting, signal: o.signal });
  } catch (error) {
    if (error instanceof TooDeep) return { ok: false, problem: "too-deep", error };
    return { ok: false, problem: "invalid", error: error instanceof Error ? error : new Error(String(error)) };
  }
  if (value === null || typeof value !== "object")
    return { ok: false, problem: "not-an-object", got: value === null ? "null" : typeof value };
  return { ok: true, value };
}

/**
 * yoga's parser for JSON bodies, with the parse in pieces: the same checks (400 BAD_REQUEST, the contract's BAD_USER_INPUT,
 * for a body that is not JSON, or not an object, in Forge's words and without yoga's
 * `originalError`), for the same media types spelled in any case, and a body nesting large
 * containers past FORGE_MAX_NESTING refused as a document nesting too deeply is. The body limit still
 * applies: yoga wraps whatever parser is set here (useLimitRequestBodySize comes last).
 */
export function useJsonBodyInPieces(maxNesting: number): Plugin {
  const badRequest = (message: string) => new GraphQLError(message, { extensions: { code: "BAD_REQUEST", http: { status: 400 } } });
  return {
    // yoga checks the other parameters' types; an operationName that is not a string would
    // reach GraphQL and be answered as a document naming no operation (a request error,
    // 200 in application/json) where the request itself is malformed (400).
    onParams: ({ params }) => {
      const { operationName } = params as { operationName?: unknown };
      if (operationName !== undefined && operationName !== null && typeof operationName !== "string") {
        throw badRequest(
          `operationName must be a string when given, not ${Array.isArray(operationName) ? "an array" : typeof operationName}`,
        );
      }
    },
    onRequestParse: ({ request, setRequestParser }) => {
      if (request.method !== "POST" || !JSON_BODY.test(request.headers.get("content-type") ?? "")) return;
      setRequestParser(async (limited) => {
        const body = await readRequestJson(await limited.text(), { maxNesting });
        if (body.ok) return body.value as GraphQLParams;
        switch (body.problem) {
          case "too-deep":
            throw new GraphQLError(`the request body ${body.error.message}, the limit (FORGE_MAX_NESTING raises it)`, {
              extensions: { code: "BAD_USER_INPUT" },
            });
          case "invalid":
            throw badRequest(`the request body is not valid JSON: ${body.error.message}`);
          case "not-an-object":
            throw badRequest(`the request body must be a JSON object holding the request, not ${body.got}`);
        }
      });
    },
  };
}
