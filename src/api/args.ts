import { InvalidInput } from "../errors.ts";

/**
 * The values of the variables `names` as a key for what depends on them: an omitted variable
 * ([]) and a null one ([null]) are told apart, since with a default they mean different things.
 */
export function variablesKey(variableValues: Readonly<Record<string, unknown>> | null | undefined, names: readonly string[]): string {
  const variables = variableValues ?? {};
  return JSON.stringify(names.map((name) => (Object.hasOwn(variables, name) ? [variables[name]] : [])));
}

/** Checks an integer argument's range; the error names the argument. */
export function intInRange(name: string, value: number | null | undefined, min: number, max: number, fallback: number): number {
  const n = value ?? fallback;
  if (!Number.isInteger(n) || n < min || n > max) throw new InvalidInput(name, `must be an integer from ${min} to ${max}`);
  return n;
}
