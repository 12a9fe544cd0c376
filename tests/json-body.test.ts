import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseJsonInPieces, TooDeep } from "../src/api/json-body.ts";

/**
 * The body parser that gives the event loop turns (src/api/json-body.ts) must be JSON.parse
 * by another route: the same value, the same keys in the same order, own "__proto__"
 * members, and a failure wherever JSON.parse fails. Pieces of 1 to 64 characters make every
 * container of the generated texts go through the walk.
 */

/** Parses in pieces as small as asked, so that the walk, not JSON.parse, reads the structure. */
const inPieces = (text: string, pieceChars: number) => parseJsonInPieces(text, { wholeChars: 0, pieceChars, sliceMs: 0 });

/** The same value, the same own keys in the same order, and only plain prototypes. */
function expectSame(actual: unknown, expected: unknown): void {
  expect(JSON.stringify(actual)).toBe(JSON.stringify(expected));
  // toEqual, not toStrictEqual: that compares members named "constructor" as classes.
  expect(actual).toEqual(expected);
  const prototypes = (value: unknown): unknown[] =>
    value !== null && typeof value === "object" ? [Object.getPrototypeOf(value), ...Object.values(value).flatMap(prototypes)] : [];
  expect(prototypes(actual)).toEqual(prototypes(expected));
}

const keys = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom("__proto__", "constructor", 'a"b', "\\", "\u2028", ""));
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string({ unit: "binary", maxLength: 8 }),
    fc.array(tie("v"), { maxLength: 5 }),
    fc.dictionary(keys, tie("v"), { maxKeys: 5 }),
  ),
})).v;
/** A value written compactly, indented, or with spaces and line breaks of every kind between tokens. */
const text = fc
  .tuple(value, fc.constantFrom(undefined, 2, "\t", " \r\n "))
  .map(([v, space]) => JSON.stringify(v, null, space as string | number | undefined));

describe("parsing a JSON body in pieces", () => {
  it("gives what JSON.parse gives, for any value however it is spaced", async () => {
    await fc.assert(
      fc.asyncProperty(text, fc.integer({ min: 1, max: 64 }), async (source, pieceChars) => {
        expectSame(await inPieces(source, pieceChars), JSON.parse(source));
      }),
      { numRuns: 500 },
    );
  });

  it("fails exactly where JSON.parse fails, for texts with a character added, removed or changed", async () => {
    const edit = fc.tuple(text, fc.nat(), fc.constantFrom("insert", "delete", "replace"), fc.constantFrom(...'{}[],:" \\0-e.tn'));
    await fc.assert(
      fc.asyncProperty(edit, fc.integer({ min: 1, max: 32 }), async ([source, position, kind, char], pieceChars) => {
        const at = position % (source.length + 1);
        const edited =
          kind === "insert"
            ? source.slice(0, at) + char + source.slice(at)
            : kind === "delete"
              ? source.slice(0, at) + source.slice(at + 1)
              : source.slice(0, at) + char + source.slice(at + 1);
        let expected: unknown;
        let refused = false;
        try {
          expected = JSON.parse(edited);
        } catch {
          refused = true;
        }
        if (refused) await expect(inPieces(edited, pieceChars)).rejects.toThrow(SyntaxError);
        else expectSame(await inPieces(edited, pieceChars), expected);
      }),
      { numRuns: 2000 },
    );
  });

  it("keeps the last of repeated keys, in the first one's place, and __proto__ as an own member", async () => {
    const source = '{"a": 1, "__proto__": {"polluted": true}, "b": [2], "a": 3}';
    const parsed = (await inPieces(source, 1)) as Record<string, unknown>;
    expectSame(parsed, JSON.parse(source));
    expect(Object.keys(parsed)).toEqual(["a", "__proto__", "b"]);
    expect(parsed.a).toBe(3);
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("refuses texts that end early, trail commas or carry more after the value", async () => {
    for (const bad of ['{"a": [1, 2', '{"a": 1,}', "[1, 2,]", "[1 2]", '{"a" 1}', "{1: 2}", "[1] [2]", "[", '["a]', "   "]) {
      await expect(inPieces(bad, 1), bad).rejects.toThrow(SyntaxError);
    }
    await expect(inPieces("[1, 2,]", 1)).rejects.toThrow(/position/);
  });

  it("refuses large containers nested past the limit, and takes them up to it", async () => {
    const nested = (depth: number) => `${"[".repeat(depth)}1${"]".repeat(depth)}`;
    await expect(parseJsonInPieces(nested(10), { wholeChars: 0, pieceChars: 1, maxDepth: 9 })).rejects.toThrow(TooDeep);
    expectSame(await parseJsonInPieces(nested(10), { wholeChars: 0, pieceChars: 1, maxDepth: 10 }), JSON.parse(nested(10)));
  });

  it("gives the event loop turns while it parses a large body", async () => {
    const steps = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`s${i}`, { type: "noop", deps: i ? [`s${i - 1}`] : [] }]));
    const source = JSON.stringify({
      query: "q",
      variables: { inputs: Array.from({ length: 200 }, (_, i) => ({ graph: { steps }, params: { i } })) },
    });
    // One count per turn of the event loop.
    let turns = 0;
    let counting = true;
    const count = () => {
      turns++;
      if (counting) setImmediate(count);
    };
    setImmediate(count);
    const parsed = await parseJsonInPieces(source, { sliceMs: 0 });
    counting = false;
    expectSame(parsed, JSON.parse(source));
    // sliceMs 0: a turn after every piece of 32 KiB, and every 64 KiB of the first pass over the text.
    expect(turns).toBeGreaterThan(source.length / (32 * 1024));
  });
});
