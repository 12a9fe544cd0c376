/**
 * JSON and text as Forge stores them. Both databases hold text, and PostgreSQL's text and
 * jsonb refuse two things JavaScript strings may contain: NUL (U+0000) and lone UTF-16
 * surrogates (half of a pair; jsonb refuses the `\udXXX` escape JSON.stringify writes for
 * one). SQLite stores both, but mangled. So every string Forge accepts (API input) or keeps
 * (what a step handler produces) is checked here first, on both databases alike.
 */

/** JSON nested deeper than this is refused: nothing a run needs, and deep enough to
 * overflow the stack of recursive JSON code downstream (drivers, clients). */
export const MAX_JSON_DEPTH = 64;

/** What is wrong with one string, or null when it is well-formed text Forge can store. */
export function textProblem(text: string): string | null {
  if (text.includes("\0")) return "contains a NUL character (U+0000)";
  if (!isWellFormed(text)) return "contains a lone UTF-16 surrogate (not well-formed Unicode)";
  return null;
}

/** Where in a JSON value a problem sits (`.steps.a.params["x y"]`, `[3]`), and the problem. */
export interface JsonProblem {
  path: string;
  problem: string;
}

/**
 * The first problem that keeps a JSON value (as JSON.parse or GraphQL hand it over) from
 * being stored: nesting past MAX_JSON_DEPTH, or a key or string that is not well-formed
 * text. Iterative, so a hostile value cannot overflow the stack of the check itself.
 *
 * It runs over every input of every request (a 4 MiB createRuns holds half a million
 * values), so the walk allocates nothing per value: two parallel stacks of values and
 * depths. Only when a problem is found is the value walked again to say where it is.
 */
export function jsonProblem(value: unknown, maxDepth = MAX_JSON_DEPTH): JsonProblem | null {
  const values: unknown[] = [value];
  const depths: number[] = [1];
  while (values.length > 0) {
    const current = values.pop();
    const depth = depths.pop() as number;
    if (typeof current === "string") {
      if (textProblem(current)) return locate(value, maxDepth);
      continue;
    }
    if (current === null || typeof current !== "object") continue;
    if (depth > maxDepth) return locate(value, maxDepth);
    if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) {
        values.push(current[i]);
        depths.push(depth + 1);
      }
      continue;
    }
    for (const key in current) {
      if (!Object.hasOwn(current, key)) continue;
      if (textProblem(key)) return locate(value, maxDepth);
      values.push((current as Record<string, unknown>)[key]);
      depths.push(depth + 1);
    }
  }
  return null;
}

interface Node {
  value: unknown;
  depth: number;
  parent: Node | null;
  key: string | number | null;
}

/** The first problem of `value` (known to have one), in the same order jsonProblem finds it, with its path. */
function locate(value: unknown, maxDepth: number): JsonProblem {
  const stack: Node[] = [{ value, depth: 1, parent: null, key: null }];
  while (stack.length > 0) {
    const node = stack.pop() as Node;
    const current = node.value;
    if (typeof current === "string") {
      const problem = textProblem(current);
      if (problem) return { path: pathOf(node), problem };
      continue;
    }
    if (current === null || typeof current !== "object") continue;
    if (node.depth > maxDepth) return { path: pathOf(node), problem: `is nested more than ${maxDepth} levels deep` };
    if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) stack.push({ value: current[i], depth: node.depth + 1, parent: node, key: i });
      continue;
    }
    for (const key in current) {
      if (!Object.hasOwn(current, key)) continue;
      const child = (current as Record<string, unknown>)[key];
      const problem = textProblem(key);
      if (problem)
        return { path: pathOf({ value: child, depth: node.depth + 1, parent: node, key }), problem: `has a key that ${problem}` };
      stack.push({ value: child, depth: node.depth + 1, parent: node, key });
    }
  }
  throw new Error("locate: the value has no problem to locate");
}

const PLAIN_KEY = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

function pathOf(node: Node): string {
  const parts: string[] = [];
  for (let n: Node | null = node; n !== null && n.key !== null; n = n.parent) {
    const key = n.key;
    // JSON.stringify escapes NUL and lone surrogates, so a bad key prints as well-formed text.
    parts.push(typeof key === "number" ? `[${key}]` : PLAIN_KEY.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`);
  }
  return parts.reverse().join("");
}

/**
 * Freezes a JSON value and everything in it (iteratively), and returns it: an output that
 * dependent steps read in the same tick must not be changed by them, since it is also
 * what will be committed.
 */
export function deepFreeze<T>(value: T): T {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const current = stack.pop();
    if (current === null || typeof current !== "object" || Object.isFrozen(current)) continue;
    Object.freeze(current);
    for (const child of Object.values(current)) stack.push(child);
  }
  return value;
}

/**
 * Text made storable where it cannot be refused (a failed attempt's error message, which
 * must be kept whatever it holds): NUL and lone surrogates become U+FFFD, and text longer
 * than `maxLength` is cut, saying so.
 */
export function sanitizeText(text: string, maxLength = MAX_ERROR_LENGTH): string {
  let clean = text.includes("\0") ? text.replaceAll("\0", "\uFFFD") : text;
  if (!isWellFormed(clean)) clean = toWellFormed(clean);
  if (clean.length <= maxLength) return clean;
  // Cut on a code point boundary, so the cut itself leaves no lone surrogate.
  const head = toWellFormed(clean.slice(0, maxLength));
  return `${head}... (${clean.length - maxLength} more characters)`;
}

/** The longest error message stored for an attempt: enough for any real diagnosis, and a
 * handler that throws a megabyte of text does not bloat every event that repeats it. */
export const MAX_ERROR_LENGTH = 4096;

// String.prototype.isWellFormed and toWellFormed are ES2024 (Node 20 has them; this
// project's TypeScript lib is ES2023, so they are reached through a typed view).
type Es2024String = string & { isWellFormed(): boolean; toWellFormed(): string };

export function isWellFormed(text: string): boolean {
  return (text as Es2024String).isWellFormed();
}

function toWellFormed(text: string): string {
  return (text as Es2024String).toWellFormed();
}
