import { randomInt, randomUUID } from "node:crypto";

/**
 * A new run id: a UUID version 7 (RFC 9562), whose leading 48 bits are the creation time
 * in milliseconds. Ids made close in time sort close together, so inserts append to the
 * primary-key B-tree instead of landing on random pages: on SQLite a batch of 100 runs
 * with random v4 ids dirtied several times the pages, and its commit took that much longer.
 *
 * The 12 bits after the version are a counter (RFC 9562, section 6.2, method 1): it starts
 * at a random value below 2048 in each new millisecond and counts up within it, so the ids
 * one process makes in the same millisecond sort in the order they were made (a run's
 * re-runs list oldest first by creation time, then id). The remaining 62 bits are random,
 * from randomUUID's pooled buffer.
 */
let lastMs = -1;
let counter = 0;

export function newRunId(now: Date): string {
  const ms = now.getTime();
  if (ms === lastMs && counter < 0xfff) counter++;
  else {
    lastMs = ms;
    counter = randomInt(0x800);
  }
  const time = ms.toString(16).padStart(12, "0").slice(-12);
  const random = randomUUID();
  // random is xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx; keep its variant and random bits.
  return `${time.slice(0, 8)}-${time.slice(8)}-7${counter.toString(16).padStart(3, "0")}-${random.slice(19)}`;
}
