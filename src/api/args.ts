import { InvalidInput } from "../errors.ts";

/** Checks an integer argument's range; the error names the argument. */
export function intInRange(name: string, value: number | null | undefined, min: number, max: number, fallback: number): number {
  const n = value ?? fallback;
  if (!Number.isInteger(n) || n < min || n > max) throw new InvalidInput(name, `must be an integer from ${min} to ${max}`);
  return n;
}
