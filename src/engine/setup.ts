import type { Config } from "../config.ts";
import { loadPolicies, type PolicySet } from "../domain/policy.ts";
import { defaultRegistry } from "./steps/index.ts";
import { loadStepModules, StepModuleError } from "./steps/modules.ts";
import type { StepRegistry } from "./steps/registry.ts";

/**
 * What an engine needs from configuration besides the environment values: its step types
 * (built-in, plus FORGE_STEP_MODULES) and its policies (FORGE_POLICY_FILE). Anything wrong
 * stops startup with a PolicyError or StepModuleError naming the problem.
 */
export async function loadEngineSetup(
  config: Pick<Config, "policyFile" | "stepModules">,
  registry?: StepRegistry,
): Promise<{ registry: StepRegistry; policies: PolicySet }> {
  const extra = await loadStepModules(config.stepModules);
  const steps = registry ?? defaultRegistry();
  for (const handler of extra) {
    try {
      steps.register(handler);
    } catch (error) {
      throw new StepModuleError(`FORGE_STEP_MODULES: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  const policies = loadPolicies(config.policyFile);
  policies.checkStepTypes(steps.types());
  return { registry: steps, policies };
}
