import { type Clock, SECOND, systemClock } from "../clock.ts";
import type { Config, EngineTunables } from "../config.ts";
import { loadPolicies } from "../domain/policy.ts";
import { createLogger, type Logger } from "../log.ts";
import { tracingFrom } from "../ops/tracing.ts";
import { Db, type DbOptions } from "../store/db.ts";
import { migrate } from "../store/migrate.ts";
import { classifyStartupError, DatabaseUnreachable, describeDatabase, inspectDatabase } from "../store/preflight.ts";
import type { ForgeOptions } from "./forge.ts";
import { defaultRegistry } from "./steps/index.ts";
import { loadStepModules, StepModuleError } from "./steps/modules.ts";
import type { StepRegistry } from "./steps/registry.ts";

/** The Forge options that come from configuration: the engine's tunables, the step types and the policies. */
export type EngineSetup = Required<Pick<ForgeOptions, "registry" | "policies" | "workerEnabled" | "tracing">> & EngineTunables;

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
    ...config.engine,
    registry: steps,
    policies,
    workerEnabled: config.workerEnabled,
    tracing: tracingFrom(config),
  };
}

/**
 * Opens the database the configuration names, for every command that uses it (serve,
 * worker, migrate): inspects it before anything is written (store/preflight.ts), opens it
 * and applies pending migrations.
 * - A database Forge cannot use throws DatabaseUnusable at once, with nothing written.
 * - An unreachable one (refused connections, a server starting up or shutting down, a
 *   locked file) is tried again with backoff, one warning per try, until
 *   FORGE_DB_STARTUP_TIMEOUT_MS has passed; then DatabaseUnreachable.
 * Both carry one line naming DATABASE_URL and the problem. Every try that fails closes
 * what it had opened.
 *
 * `log` defaults to a logger of the configured level, for callers that have none yet.
 */
export async function openDatabase(
  config: Config,
  log: Logger = createLogger(config.logLevel),
  clock: Clock = systemClock,
  /** A shutdown requested while the database is being waited for: stop trying. */
  stop?: AbortSignal,
): Promise<Db> {
  const options: DbOptions = { url: config.databaseUrl, synchronous: config.sqliteSynchronous, postgres: config.postgres };
  const database = describeDatabase(options.url);
  const deadline = clock.now().getTime() + config.dbStartupTimeoutMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await openOnce(options, log);
    } catch (error) {
      const problem = classifyStartupError(error, options.url);
      if (problem === null) throw error;
      if (problem.kind === "unusable") throw problem.error;
      const left = deadline - clock.now().getTime();
      if (left <= 0) {
        throw new DatabaseUnreachable(
          `${database} is unreachable (${problem.reason}); gave up after ${attempt} ${attempt === 1 ? "try" : "tries"} in ${seconds(config.dbStartupTimeoutMs)} (FORGE_DB_STARTUP_TIMEOUT_MS)`,
        );
      }
      const retryInMs = Math.min(left, retryDelayMs(attempt));
      log.warn({ attempt, retryInMs, database, error: problem.reason }, "database unreachable at startup; trying again");
      await clock.sleep(retryInMs, stop);
      if (stop?.aborted) {
        throw new DatabaseUnreachable(`${database} is unreachable (${problem.reason}); stopped waiting for it on a shutdown signal`);
      }
    }
  }
}

async function openOnce(options: DbOptions, log: Logger): Promise<Db> {
  await inspectDatabase(options);
  const db = await Db.open(options);
  try {
    const report = await migrate(db);
    if (report.applied.length > 0) log.info({ applied: report.applied }, "migrations applied");
    return db;
  } catch (error) {
    // The error is what matters here; a pool that cannot close cleanly is ended anyway.
    await db.close().catch(() => {});
    throw error;
  }
}

/**
 * Waits between startup tries: 250 ms, doubling up to 5 s, each within ±25 % so that
 * processes started together do not all knock at once when the database comes back. The
 * cap bounds how long a process lags behind a database that is back (about five seconds).
 */
const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 5 * SECOND;

function retryDelayMs(attempt: number): number {
  const base = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** (attempt - 1));
  return Math.round(base * (0.75 + Math.random() / 2));
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}
