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
