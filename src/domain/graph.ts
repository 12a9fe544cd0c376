import { InvalidInput } from "../errors.ts";

/**
 * A run graph as accepted: every step has `deps`. Keys keep the order the client gave.
 * See API.md, "The run graph".
 */
export interface Graph {
  steps: Record<string, GraphStep>;
  initial_step?: string;
}

export interface GraphStep {
  type: string;
  deps: string[];
  params?: Record<string, unknown>;
  retry?: RetryPolicy;
  /** An attempt running longer than this is aborted and counts as failed. */
  timeoutMs?: number;
}

/** How a failed attempt is retried (API.md, "Failure and retry"). */
export interface RetryPolicy {
  maxAttempts: number;
  backoffMs: number;
  backoffFactor: number;
  maxBackoffMs: number;
}

/** No retry unless the graph asks for one; these fill in whatever it leaves out. */
export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 1, backoffMs: 1000, backoffFactor: 2, maxBackoffMs: 60_000 };

/** The wait before attempt `failedAttempt + 1`: min(maxBackoffMs, backoffMs * backoffFactor^(failedAttempt-1)). */
export function backoffDelay(retry: RetryPolicy, failedAttempt: number): number {
  return Math.min(retry.maxBackoffMs, retry.backoffMs * retry.backoffFactor ** (failedAttempt - 1));
}

export interface GraphRules {
  /** Step types that may be used. */
  stepTypes: ReadonlySet<string>;
  /** The most steps a graph may have. */
  maxSteps: number;
  /** Registered types the run's policy allows; all of them when absent. */
  allowedStepTypes?: ReadonlySet<string>;
  /** Where the limits come from, for messages: `the policy of job type "x"`. */
  limitsFrom?: string;
  /** A step type's own check of its params: the problem, or null when they are fine. */
  checkParams?: (type: string, params: Record<string, unknown>) => string | null;
}

const STEP_ID = /^[A-Za-z0-9._-]{1,128}$/;
/** Bounds a graph's edges, and so the work of validating and ticking it: a 1,000-step
 * graph may have 16,000 deps, far more than fan-ins of real pipelines need. */
const MAX_DEPS_PER_STEP = 16;
const GRAPH_KEYS = new Set(["steps", "initial_step"]);
const STEP_KEYS = new Set(["type", "deps", "params", "retry", "timeoutMs"]);
export const DAY_MS = 24 * 60 * 60 * 1000;
/** Each retry setting: its bounds and whether it must be a whole number. */
export const RETRY_FIELDS: Record<keyof RetryPolicy, { min: number; max: number; integer: boolean }> = {
  maxAttempts: { min: 1, max: 100, integer: true },
  backoffMs: { min: 0, max: DAY_MS, integer: true },
  backoffFactor: { min: 1, max: 100, integer: false },
  maxBackoffMs: { min: 0, max: DAY_MS, integer: true },
};

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Validates a graph against every rule of API.md and returns it normalized.
 * Throws InvalidInput naming the first offending field or step.
 */
export function validateGraph(input: unknown, rules: GraphRules): Graph {
  if (!isObject(input)) throw new InvalidInput("graph", "must be an object with a `steps` object");
  for (const key of Object.keys(input)) {
    if (!GRAPH_KEYS.has(key)) throw new InvalidInput(`graph.${key}`, "is not a known graph key (expected steps, initial_step)");
  }
  const rawSteps = input.steps;
  if (!isObject(rawSteps)) throw new InvalidInput("graph.steps", "must be an object keyed by step id");
  const ids = Object.keys(rawSteps);
  if (ids.length === 0) throw new InvalidInput("graph.steps", "must contain at least one step");
  if (ids.length > rules.maxSteps) {
    const from = rules.limitsFrom ? ` set by ${rules.limitsFrom}` : "";
    throw new InvalidInput("graph.steps", `has ${ids.length} steps, more than the limit of ${rules.maxSteps}${from}`);
  }

  // No prototype: a step may be called "__proto__" or "constructor" like any other id.
  const steps: Record<string, GraphStep> = Object.create(null);
  let edges = 0;
  for (const id of ids) {
    const where = `graph.steps.${id}`;
    if (!STEP_ID.test(id)) throw new InvalidInput(where, "step id must be 1-128 characters of [A-Za-z0-9._-]");
    const raw = rawSteps[id];
    if (!isObject(raw)) throw new InvalidInput(where, "must be an object with a `type`");
    for (const key of Object.keys(raw)) {
      if (!STEP_KEYS.has(key))
        throw new InvalidInput(`${where}.${key}`, "is not a known step key (expected type, deps, params, retry, timeoutMs)");
    }
    if (typeof raw.type !== "string" || raw.type.length === 0) throw new InvalidInput(`${where}.type`, "must be a non-empty string");
    if (!rules.stepTypes.has(raw.type)) {
      throw new InvalidInput(`${where}.type`, `unknown step type "${raw.type}" (known: ${[...rules.stepTypes].sort().join(", ")})`);
    }
    if (rules.allowedStepTypes && !rules.allowedStepTypes.has(raw.type)) {
      throw new InvalidInput(
        `${where}.type`,
        `step type "${raw.type}" is not allowed by ${rules.limitsFrom ?? "the policy"} (allowed: ${[...rules.allowedStepTypes].sort().join(", ")})`,
      );
    }
    const deps = raw.deps ?? [];
    if (!Array.isArray(deps)) throw new InvalidInput(`${where}.deps`, "must be an array of step ids");
    const seen = new Set<string>();
    for (const dep of deps) {
      if (typeof dep !== "string") throw new InvalidInput(`${where}.deps`, "must contain only step ids (strings)");
      if (dep === id) throw new InvalidInput(`${where}.deps`, "a step cannot depend on itself");
      if (!Object.hasOwn(rawSteps, dep)) throw new InvalidInput(`${where}.deps`, `unknown step "${dep}"`);
      if (seen.has(dep)) throw new InvalidInput(`${where}.deps`, `lists "${dep}" twice`);
      seen.add(dep);
    }
    edges += deps.length;
    if (edges > rules.maxSteps * MAX_DEPS_PER_STEP) {
      throw new InvalidInput(
        "graph.steps",
        `has more than ${rules.maxSteps * MAX_DEPS_PER_STEP} deps in all (${MAX_DEPS_PER_STEP} per allowed step)`,
      );
    }
    const step: GraphStep = { type: raw.type, deps: [...(deps as string[])] };
    if (raw.params !== undefined) {
      if (!isObject(raw.params)) throw new InvalidInput(`${where}.params`, "must be an object");
      step.params = raw.params;
    }
    const problem = rules.checkParams?.(raw.type, step.params ?? {});
    if (problem) throw new InvalidInput(`${where}.params`, problem);
    if (raw.retry !== undefined) step.retry = validateRetry(raw.retry, `${where}.retry`);
    if (raw.timeoutMs !== undefined) {
      const t = raw.timeoutMs;
      if (typeof t !== "number" || !Number.isInteger(t) || t < 1 || t > DAY_MS) {
        throw new InvalidInput(`${where}.timeoutMs`, `must be a whole number of milliseconds from 1 to ${DAY_MS}`);
      }
      step.timeoutMs = t;
    }
    steps[id] = step;
  }

  const graph: Graph = { steps };
  if (input.initial_step !== undefined) {
    const initial = input.initial_step;
    if (typeof initial !== "string") throw new InvalidInput("graph.initial_step", "must be a step id");
    const step = Object.hasOwn(steps, initial) ? steps[initial] : undefined;
    if (!step) throw new InvalidInput("graph.initial_step", `unknown step "${initial}"`);
    if (step.deps.length > 0) throw new InvalidInput("graph.initial_step", `step "${initial}" has deps; the initial step must have none`);
    graph.initial_step = initial;
  }

  const cycle = findCycle(steps);
  if (cycle) throw new InvalidInput("graph.steps", `cycle: ${cycle.join(" -> ")}`);
  return graph;
}

function validateRetry(raw: unknown, where: string): RetryPolicy {
  if (!isObject(raw)) throw new InvalidInput(where, "must be an object (maxAttempts, backoffMs, backoffFactor, maxBackoffMs)");
  const retry: RetryPolicy = { ...DEFAULT_RETRY };
  for (const [key, value] of Object.entries(raw)) {
    const rule = Object.hasOwn(RETRY_FIELDS, key) ? RETRY_FIELDS[key as keyof RetryPolicy] : undefined;
    if (!rule)
      throw new InvalidInput(`${where}.${key}`, "is not a known retry key (expected maxAttempts, backoffMs, backoffFactor, maxBackoffMs)");
    if (
      typeof value !== "number" ||
      !Number.isFinite(value) ||
      (rule.integer && !Number.isInteger(value)) ||
      value < rule.min ||
      value > rule.max
    ) {
      throw new InvalidInput(`${where}.${key}`, `must be a ${rule.integer ? "whole " : ""}number from ${rule.min} to ${rule.max}`);
    }
    retry[key as keyof RetryPolicy] = value;
  }
  return retry;
}

/** Returns one cycle as a path that starts and ends on the same step, or null. */
function findCycle(steps: Record<string, GraphStep>): string[] | null {
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  // Iterative depth-first search so that a 1,000-step chain cannot overflow the stack.
  for (const root of Object.keys(steps).sort()) {
    if (state.has(root)) continue;
    const stack: Array<{ id: string; next: number }> = [{ id: root, next: 0 }];
    state.set(root, "open");
    path.push(root);
    while (stack.length > 0) {
      const frame = stack[stack.length - 1] as { id: string; next: number };
      const deps = (steps[frame.id] as GraphStep).deps;
      if (frame.next < deps.length) {
        const dep = deps[frame.next++] as string;
        const seen = state.get(dep);
        if (seen === "open") return [...path.slice(path.indexOf(dep)), dep];
        if (seen === undefined) {
          state.set(dep, "open");
          path.push(dep);
          stack.push({ id: dep, next: 0 });
        }
      } else {
        state.set(frame.id, "done");
        path.pop();
        stack.pop();
      }
    }
  }
  return null;
}

/**
 * The stable step order of API.md: topological, and among steps that are ready at the
 * same time, by id. The graph must already be validated (acyclic).
 */
export function topologicalOrder(graph: Graph): string[] {
  const ids = Object.keys(graph.steps);
  const waiting = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  for (const id of ids) {
    const deps = (graph.steps[id] as GraphStep).deps;
    waiting.set(id, deps.length);
    for (const dep of deps) {
      const list = dependents.get(dep);
      if (list) list.push(id);
      else dependents.set(dep, [id]);
    }
  }
  const ready = ids.filter((id) => waiting.get(id) === 0).sort();
  const order: string[] = [];
  while (ready.length > 0) {
    const id = ready.shift() as string;
    order.push(id);
    for (const next of dependents.get(id) ?? []) {
      const left = (waiting.get(next) as number) - 1;
      waiting.set(next, left);
      if (left === 0) insertSorted(ready, next);
    }
  }
  return order;
}

function insertSorted(list: string[], value: string): void {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((list[mid] as string) < value) lo = mid + 1;
    else hi = mid;
  }
  list.splice(lo, 0, value);
}
