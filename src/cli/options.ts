import { InvalidArgumentError } from "commander";

/**
 * Parsers of option values, run by commander before any request: a bad value is refused
 * with one line naming the option and the problem, and exit code 2.
 */

export const RUN_STATUSES = ["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"] as const;
export const RUN_MODES = ["LIVE", "DRY_RUN"] as const;

/** A whole number from `min` to `max`. */
export function wholeNumber(min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}.`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}.`);
    return n;
  };
}

/** One of `allowed`, in any case (`failed` is FAILED). */
export function oneOf<T extends string>(allowed: readonly T[]): (value: string) => T {
  return (value) => {
    const upper = value.trim().toUpperCase() as T;
    if (!allowed.includes(upper)) throw new InvalidArgumentError(`must be one of ${allowed.join(", ")}.`);
    return upper;
  };
}

/** `--param k=v`, repeatable: each adds one key to the params object (the value is a string). */
export function param(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const at = value.indexOf("=");
  if (at <= 0) throw new InvalidArgumentError("must be key=value, with a non-empty key.");
  return { ...previous, [value.slice(0, at)]: value.slice(at + 1) };
}

/** A JSON value given on the command line (`--payload '{"ok":true}'`). */
export function jsonValue(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch (error) {
    throw new InvalidArgumentError(`is not valid JSON (${(error as Error).message}).`);
  }
}

/** A whole number from `min` to `max`, negative ones included. */
export function integer(min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^-?\d+$/.test(value.trim()) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}.`);
    }
    return Number(value);
  };
}

/** An http:// or https:// URL (the GraphQL endpoint). */
export function httpUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError("is not a URL.");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new InvalidArgumentError("must be an http:// or https:// URL.");
  return url.toString();
}

export const TERMINAL_STATUSES = ["SUCCEEDED", "FAILED", "CANCELLED"] as const;

/** The same parser for an option that takes several values (`--id a b`, or `--id a --id b`). */
export function each<T>(parse: (value: string) => T): (value: string, previous?: T[]) => T[] {
  return (value, previous = []) => [...previous, parse(value)];
}

/** A name that is not empty (a lane, a job type, a run's id). */
export function nonEmpty(value: string): string {
  if (value.trim() === "") throw new InvalidArgumentError("must not be empty.");
  return value;
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * An ISO 8601 instant, as the API's DateTime wants it (UTC with milliseconds): a date and time
 * with its offset (2026-11-23T22:33:46Z, 2026-11-23T23:33+01:00), or a date alone, which is
 * midnight UTC. A time without an offset is refused: which zone it meant is a guess.
 */
export function instant(value: string): string {
  const text = value.trim();
  const date = ISO_DATE.test(text) ? new Date(`${text}T00:00:00.000Z`) : ISO_DATE_TIME.test(text) ? new Date(text) : null;
  if (!date || Number.isNaN(date.getTime()) || !sameCalendarDate(text, date)) {
    throw new InvalidArgumentError("must be an ISO 8601 instant with its offset, such as 2026-11-23T22:33:46Z, or a date (midnight UTC).");
  }
  return date.toISOString();
}

/** Date.parse rolls 2026-02-30 over into March; the date as written must be a real one. */
function sameCalendarDate(text: string, date: Date): boolean {
  const [year, month, day] = text.slice(0, 10).split("-").map(Number) as [number, number, number];
  const offset = /([+-])(\d{2}):(\d{2})$/.exec(text);
  const shift = offset ? (offset[1] === "-" ? -1 : 1) * (Number(offset[2]) * 60 + Number(offset[3])) * 60_000 : 0;
  const local = new Date(date.getTime() + shift);
  return local.getUTCFullYear() === year && local.getUTCMonth() + 1 === month && local.getUTCDate() === day;
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** A duration such as 30d, 12h, 90m, 45s or 2w (a whole number and one unit), in milliseconds. */
export function durationMs(value: string): number {
  const match = /^(\d+)([smhdw])$/.exec(value.trim());
  const ms = match ? Number(match[1]) * (UNIT_MS[match[2] as string] as number) : Number.NaN;
  if (!match || !Number.isSafeInteger(ms) || ms <= 0 || ms > 100 * 365 * 86_400_000) {
    throw new InvalidArgumentError("must be a whole number and a unit, s, m, h, d or w, such as 30d or 12h (at most 100 years).");
  }
  return ms;
}
