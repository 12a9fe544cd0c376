import type { DocumentNode } from "graphql";
import { LRUCache } from "lru-cache";

/**
 * yoga keeps parsed documents, and parse errors, for reuse, keyed by their source: by default
 * 1,024 of each whatever their size, so 33 distinct 3.2 MiB documents filled the heap until
 * the process died. Here both share one LRU whose budget is in bytes, so what distinct
 * documents can hold is bounded however large each is; one larger than the whole budget is
 * simply not kept.
 *
 * What an entry holds was measured with `node --expose-gc` on graphql 16 (heapUsed after a GC
 * before and after parsing 20 documents of each shape):
 * - a document that is mostly a comment or a string literal: 1.0 byte per source byte (the AST
 *   keeps its source string through `loc.source`, and nothing else grows with it);
 * - token-dense documents (short fields, list literals, aliased fields with arguments):
 *   240 to 510 bytes per token, 110 to 170 bytes per source byte (each token is a Token object
 *   kept in the location chain, plus a node with its Location and Name).
 * So an entry is charged 2 bytes per source character (V8 stores a string with any character
 * past Latin-1 in two bytes each) plus 512 bytes per token, counted on the parsed document's
 * own token chain.
 */
const BYTES_PER_CHAR = 2;
const BYTES_PER_TOKEN = 512;
/** A parse error keeps the source (through its `source`) and a little more. */
const ERROR_OVERHEAD_BYTES = 1024;
/** Without a location (a document parsed with noLocation), the dense case per source byte. */
const BYTES_PER_CHAR_WITHOUT_TOKENS = 170;

type Entry = { document: DocumentNode } | { error: unknown };

function tokenCount(document: DocumentNode): number | null {
  let token = document.loc?.startToken ?? null;
  if (token === null) return null;
  let count = 0;
  for (; token !== null; token = token.next) count++;
  return count;
}

function entryBytes(entry: Entry, source: string): number {
  if (!("document" in entry)) return BYTES_PER_CHAR * source.length + ERROR_OVERHEAD_BYTES;
  const tokens = tokenCount(entry.document);
  if (tokens === null) return BYTES_PER_CHAR_WITHOUT_TOKENS * source.length + ERROR_OVERHEAD_BYTES;
  return BYTES_PER_CHAR * source.length + BYTES_PER_TOKEN * tokens;
}

interface Cache<T> {
  get(key: string): T | undefined;
  set(key: string, value: T): void;
}

/** yoga's `parserAndValidationCache` caches, within `budgetBytes` together (0: nothing is kept). */
export function documentCaches(budgetBytes: number): { documentCache: Cache<DocumentNode>; errorCache: Cache<unknown> } {
  if (budgetBytes === 0) {
    const none = { get: () => undefined, set: () => {} };
    return { documentCache: none, errorCache: none };
  }
  // One source either parses or does not, so documents and errors never share a key.
  const lru = new LRUCache<string, Entry>({
    maxSize: budgetBytes,
    sizeCalculation: (entry, source) => Math.max(1, Math.ceil(entryBytes(entry, source))),
  });
  return {
    documentCache: {
      get: (source) => {
        const entry = lru.get(source);
        return entry && "document" in entry ? entry.document : undefined;
      },
      set: (source, document) => void lru.set(source, { document }),
    },
    errorCache: {
      get: (source) => {
        const entry = lru.get(source);
        return entry && "error" in entry ? entry.error : undefined;
      },
      set: (source, error) => void lru.set(source, { error }),
    },
  };
}
