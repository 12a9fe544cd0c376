/*
 * What a re-run reuses (API.md, "rerunRun"): the steps that succeeded in the original and
 * do not depend, directly or through other steps, on the step it starts from, or (without
 * one) on any step that did not succeed. Everything else runs again.
 */
import { InvalidInput } from "../errors.ts";

interface OriginalStep {
  id: string;
  deps: string[];
  status: string;
}

/**
 * The ids of the steps to reuse. `fromStep` must name a step of the run (BAD_USER_INPUT
 * naming the field otherwise); it runs again itself, with everything downstream of it.
 */
export function stepsToReuse(steps: readonly OriginalStep[], fromStep: string | null): Set<string> {
  const byId = new Map(steps.map((s) => [s.id, s]));
  if (fromStep !== null && !byId.has(fromStep)) {
    const known = [...byId.keys()].sort();
    const shown = known.length > 10 ? `${known.slice(0, 10).join(", ")}, ...` : known.join(", ");
    const named = fromStep.length > 64 ? `${fromStep.slice(0, 64)}...` : fromStep;
    throw new InvalidInput("fromStep", `the run has no step "${named}" (its steps: ${shown})`);
  }
  const roots = fromStep !== null ? [fromStep] : steps.filter((s) => s.status !== "SUCCEEDED").map((s) => s.id);
  // Everything downstream of the roots: walk the dependents, each step once.
  const dependents = new Map<string, string[]>();
  for (const step of steps) {
    for (const dep of step.deps) {
      const list = dependents.get(dep);
      if (list) list.push(step.id);
      else dependents.set(dep, [step.id]);
    }
  }
  const again = new Set<string>(roots);
  const stack = [...roots];
  while (stack.length > 0) {
    for (const next of dependents.get(stack.pop() as string) ?? []) {
      if (!again.has(next)) {
        again.add(next);
        stack.push(next);
      }
    }
  }
  return new Set(steps.filter((s) => s.status === "SUCCEEDED" && !again.has(s.id)).map((s) => s.id));
}
