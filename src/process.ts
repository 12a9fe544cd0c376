import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { systemClock } from "./clock.ts";
import { type Config, ConfigError, loadConfig } from "./config.ts";
import { PolicyError } from "./domain/policy.ts";
import { Forge } from "./engine/forge.ts";
import { loadEngineSetup, openDatabase } from "./engine/setup.ts";
import { StepModuleError } from "./engine/steps/modules.ts";
import type { StepRegistry } from "./engine/steps/registry.ts";
import { createLogger, type Logger } from "./log.ts";
import { operationsRoutes, serveOperations } from "./ops/routes.ts";
import { buildApp } from "./server.ts";
import { migrationFiles } from "./store/migrate.ts";
import { DatabaseStartupError } from "./store/preflight.ts";

/**
 * The server's own commands, as processes run them (`forge serve|worker|migrate`, and
 * `npm start`, `npm run worker`, `npm run migrate`, which are the same). Each runs to its end
 * and resolves to the process's exit code: 0 after a clean stop, 1 when it could not start
 * (a one-line reason on stderr).
 * - serve: the API (and the dashboard, health and metrics routes), plus the worker when
 *   FORGE_WORKER_ENABLED=true;
 * - worker: only the worker, whatever FORGE_WORKER_ENABLED says, with its health and metrics
 *   routes on FORGE_WORKER_PORT;
 * - migrate: apply pending migrations and exit.
 */
export interface ProcessOptions {
  /** Step types for this process (default: the built-in ones). */
  registry?: StepRegistry;
}

export async function serve(options: ProcessOptions = {}): Promise<number> {
  const started = configured();
  if (!started) return 1;
  const { config, log } = started;
  // Listening from the start: a SIGTERM that comes while the process is still starting (the
  // database may be coming back) stops it as soon as it has started, instead of killing it
  // half-way; a second signal exits at once.
  const shutdown = untilSignal(log);
  const app = await startupStep(() => buildApp(config, { log, registry: options.registry, stop: shutdown.signal }));
  if (!app) return 1;
  const url = await app.start().catch(async (error: unknown) => {
    await app.stop();
    console.error(`FORGE_PORT: cannot listen on ${config.host}:${config.port}: ${(error as Error).message}`);
    return null;
  });
  if (!url) return 1;
  log.info({ url, worker: config.workerEnabled }, "forge serving");
  await shutdown.requested;
  await app.stop();
  log.info("forge stopped");
  return 0;
}

export async function worker(options: ProcessOptions = {}): Promise<number> {
  const started = configured();
  if (!started) return 1;
  const { config, log } = started;
  const shutdown = untilSignal(log);
  const setup = await startupStep(() => loadEngineSetup(config, options.registry, log));
  if (!setup) return 1;
  const db = await startupStep(() => openDatabase(config, log, undefined, shutdown.signal));
  if (!db) return 1;
  // This process exists to run the worker, whatever FORGE_WORKER_ENABLED says.
  const forge = await Forge.start({ ...setup, workerEnabled: true, db, clock: systemClock, log }).catch(async (error: unknown) => {
    await db.close();
    throw error;
  });
  const ops = await listenForOperations(config, forge).catch(async (error: unknown) => {
    await forge.stop();
    await db.close();
    console.error(`FORGE_WORKER_PORT: cannot listen on ${config.host}:${config.workerPort}: ${(error as Error).message}`);
    return null;
  });
  if (!ops) return 1;
  log.info({ workerId: forge.worker?.id, operations: ops.url }, "forge worker running");
  await shutdown.requested;
  const closed = new Promise<void>((resolve) => ops.server.close(() => resolve()));
  ops.server.closeAllConnections();
  await closed;
  await forge.stop();
  await db.close();
  return 0;
}

export async function migrateCommand(): Promise<number> {
  const started = configured();
  if (!started) return 1;
  const { config, log } = started;
  // Opening the database applies pending migrations.
  const db = await startupStep(() => openDatabase(config, log));
  if (!db) return 1;
  await db.close();
  log.info({ migrations: migrationFiles(db.dialect).length }, "migrations up to date");
  return 0;
}

/** A worker process's /healthz, /readyz and /metrics, on FORGE_WORKER_PORT. */
async function listenForOperations(config: Config, forge: Forge): Promise<{ server: Server; url: string }> {
  // This process exists to run the worker: it is not ready while the worker's heartbeat is stale.
  const routes = operationsRoutes(config, forge, { heartbeat: true });
  const server = createServer((req, res) => {
    if (serveOperations(req, res, routes)) return;
    res.writeHead(404, { "content-type": "application/json" });
    res.end(`${JSON.stringify({ status: "not_found", reason: "a worker serves /healthz, /readyz and /metrics only" })}\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.workerPort, config.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return { server, url: `http://${host}:${address.port}` };
}

function configured(): { config: Config; log: Logger } | null {
  try {
    const config = loadConfig();
    return { config, log: createLogger(config.logLevel) };
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return null;
    }
    throw error;
  }
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
