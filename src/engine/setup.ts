import type { Config } from "../config.ts";
import { loadPolicies } from "../domain/policy.ts";
import { createLogger, type Logger } from "../log.ts";
import { Db } from "../store/db.ts";
import type { ForgeOptions } from "./forge.ts";
import { defaultRegistry } from "./steps/index.ts";
import { loadStepModules, StepModuleError } from "./steps/modules.ts";
import type { StepRegistry } from "./steps/registry.ts";

/** The Forge options that come from configuration: the environment's values, the step types and the policies. */
export type EngineSetup = Required<
  Pick<
    ForgeOptions,
    "registry" | "policies" | "leaseMs" | "tickLimit" | "tickIntervalMs" | "workerConcurrency" | "workerEnabled" | "artifactMaxBytes"
  >
>;

/**
 * Everything an engine takes from configuration, for every command that starts one: the
 * environment's values, its step types (built-in, plus FORGE_STEP_MODULES) and its
 * policies (FORGE_POLICY_FILE). Anything wrong stops startup with a PolicyError or
 * StepModuleError naming the problem, before the database is opened.
 *
 * The built-in http step gets FORGE_HTTP_ALLOW_PRIVATE and FORGE_HTTP_ALLOW_HOSTS, and logs
 * to `log` (by default a logger at LOG_LEVEL) why a connection could not be made. A
 * `registry` given here is used as it is: its http step has the options it was built with
 * (defaultRegistry's `options.http`).
 */
export async function loadEngineSetup(config: Config, registry?: StepRegistry, log?: Logger): Promise<EngineSetup> {
  const extra = await loadStepModules(config.stepModules);
  const steps = registry ?? defaultRegistry([], { http: { ...config.http, log: log ?? createLogger(config.logLevel) } });
  for (const handler of extra) {
    try {
      steps.register(handler);
    } catch (error) {
      throw new StepModuleError(`FORGE_STEP_MODULES: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  const policies = loadPolicies(config.policyFile);
  policies.checkStepTypes(steps.types());
  return {
    registry: steps,
    policies,
    leaseMs: config.leaseMs,
    tickLimit: config.tickLimit,
    tickIntervalMs: config.tickIntervalMs,
    workerConcurrency: config.workerConcurrency,
    workerEnabled: config.workerEnabled,
    artifactMaxBytes: config.artifactMaxBytes,
  };
}

/** Opens the database the configuration names. */
export function openDatabase(config: Config): Promise<Db> {
  return Db.open({ url: config.databaseUrl, synchronous: config.sqliteSynchronous, postgres: config.postgres });
}
