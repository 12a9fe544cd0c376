import { systemClock } from "./clock.ts";
import { type Config, ConfigError, loadConfig } from "./config.ts";
import { PolicyError } from "./domain/policy.ts";
import { Forge } from "./engine/forge.ts";
import { loadEngineSetup, openDatabase } from "./engine/setup.ts";
import { StepModuleError } from "./engine/steps/modules.ts";
import type { StepRegistry } from "./engine/steps/registry.ts";
import { createLogger, type Logger } from "./log.ts";
import { buildApp } from "./server.ts";
import { migrationFiles } from "./store/migrate.ts";
import { DatabaseStartupError } from "./store/preflight.ts";

/**
 * The command line (src/main.ts runs it). `forge [serve|worker|migrate]`:
 * - serve (default): the API, plus the worker when FORGE_WORKER_ENABLED=true;
 * - worker: only the worker, whatever FORGE_WORKER_ENABLED says (this process exists to run it);
 * - migrate: apply pending migrations and exit.
 */
const USAGE = "usage: forge [serve|worker|migrate]";

export interface CliOptions {
  /** Step types for this process (default: the built-in ones). */
  registry?: StepRegistry;
}

/** Runs one command to its end and returns the process's exit code. */
export async function runCli(argv: string[], options: CliOptions = {}): Promise<number> {
  const command = argv[0] ?? "serve";
  if (!["serve", "worker", "migrate"].includes(command)) {
    console.error(USAGE);
    return 2;
  }
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 1;
    }
    throw error;
  }
  const log = createLogger(config.logLevel);

  if (command === "migrate") {
    // Opening the database applies pending migrations.
    const db = await startupStep(() => openDatabase(config, log));
    if (!db) return 1;
    await db.close();
    log.info({ migrations: migrationFiles(db.dialect).length }, "migrations up to date");
    return 0;
  }

  // Listening from the start: a SIGTERM that comes while the process is still starting (the
  // database may be coming back) stops it as soon as it has started, instead of killing it
  // half-way; a second signal exits at once.
  const shutdown = untilSignal(log);

  if (command === "worker") {
    const setup = await startupStep(() => loadEngineSetup(config, options.registry, log));
    if (!setup) return 1;
    const db = await startupStep(() => openDatabase(config, log, undefined, shutdown.signal));
    if (!db) return 1;
    // This process exists to run the worker, whatever FORGE_WORKER_ENABLED says.
    const forge = await Forge.start({ ...setup, workerEnabled: true, db, clock: systemClock, log }).catch(async (error: unknown) => {
      await db.close();
      throw error;
    });
    log.info({ workerId: forge.worker?.id }, "forge worker running");
    await shutdown.requested;
    await forge.stop();
    await db.close();
    return 0;
  }

  const app = await startupStep(() => buildApp(config, { log, registry: options.registry, stop: shutdown.signal }));
  if (!app) return 1;
  const url = await app.start();
  log.info({ url, worker: config.workerEnabled }, "forge serving");
  await shutdown.requested;
  await app.stop();
  log.info("forge stopped");
  return 0;
}

/**
 * Runs a startup step; a configuration problem (policy file, step module) or a database
 * Forge cannot use or reach is printed as its one line and gives null.
 */
async function startupStep<T>(step: () => Promise<T>): Promise<T | null> {
  try {
    return await step();
  } catch (error) {
    if (error instanceof PolicyError || error instanceof StepModuleError || error instanceof DatabaseStartupError) {
      console.error(error.message);
      return null;
    }
    throw error;
  }
}

/** The first SIGTERM or SIGINT, as a promise and as a signal; a second one exits at once. */
function untilSignal(log: Logger): { requested: Promise<void>; signal: AbortSignal } {
  const controller = new AbortController();
  const requested = new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      log.info({ signal }, "shutting down: finishing the tick in progress");
      process.once("SIGINT", () => process.exit(130));
      process.once("SIGTERM", () => process.exit(143));
      controller.abort();
      resolve();
    };
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
  });
  return { requested, signal: controller.signal };
}
