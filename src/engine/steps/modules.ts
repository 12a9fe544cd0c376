import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { StepHandler } from "./registry.ts";

/**
 * Step types from operators' modules (FORGE_STEP_MODULES). A module exports its handlers
 * as `steps` (an array) or as its default export (one handler or an array). Paths are
 * relative to the working directory; anything else is imported as a package name.
 */
export class StepModuleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StepModuleError";
  }
}

export async function loadStepModules(specs: readonly string[], cwd = process.cwd()): Promise<StepHandler[]> {
  const handlers: StepHandler[] = [];
  for (const spec of specs) {
    const isPath = spec.startsWith(".") || isAbsolute(spec);
    const target = isPath ? pathToFileURL(resolve(cwd, spec)).href : spec;
    let module: Record<string, unknown>;
    try {
      module = (await import(target)) as Record<string, unknown>;
    } catch (error) {
      throw new StepModuleError(`FORGE_STEP_MODULES: cannot load "${spec}": ${error instanceof Error ? error.message : String(error)}`);
    }
    const exported = module.steps ?? module.default;
    if (exported === undefined) {
      throw new StepModuleError(`FORGE_STEP_MODULES: "${spec}" exports neither \`steps\` nor a default (its step handlers)`);
    }
    handlers.push(...((Array.isArray(exported) ? exported : [exported]) as StepHandler[]));
  }
  return handlers;
}
