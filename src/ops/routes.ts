import type { IncomingMessage, ServerResponse } from "node:http";
import { accessFor, bearerToken } from "../api/auth.ts";
import type { Config } from "../config.ts";
import type { Forge } from "../engine/forge.ts";
import type { ForgeMetrics } from "./metrics.ts";
import { checkReadiness, type Readiness } from "./readiness.ts";

/**
 * The operations routes every Forge process serves over plain HTTP (API.md, "Operations"):
 * `/healthz` (alive), `/readyz` (database reachable, migrations applied, and for a worker a
 * fresh heartbeat) and `/metrics` (Prometheus text; behind the API token when one is set).
 */
export interface OperationsRoutes {
  readiness: () => Promise<Readiness>;
  metrics: ForgeMetrics;
  /** Whether a request with this Authorization header may read /metrics. */
  mayReadMetrics: (authorization: string | undefined) => boolean;
}

/**
 * The operations routes of a process running `forge`: its readiness and its metrics. With
 * `heartbeat` (a worker process), readiness also needs the worker's heartbeat to be fresh; an
 * API process with an embedded worker stays ready to serve requests however its worker fares.
 */
export function operationsRoutes(
  config: Pick<Config, "adminToken" | "apiToken">,
  forge: Forge,
  options: { heartbeat?: boolean } = {},
): OperationsRoutes {
  const worker = options.heartbeat ? forge.worker : null;
  const maxAgeMs = 3 * forge.resources.tunables.heartbeatMs;
  return {
    readiness: () =>
      checkReadiness({
        db: forge.db,
        clock: forge.clock,
        ...(worker ? { heartbeat: { lastAt: () => worker.lastHeartbeatAt, maxAgeMs } } : {}),
      }),
    metrics: forge.resources.metrics,
    mayReadMetrics: (authorization) => config.apiToken === null || accessFor(config, bearerToken(authorization)).api,
  };
}

export const OPERATIONS_PATHS: ReadonlySet<string> = new Set(["/healthz", "/readyz", "/metrics"]);

/** Answers `req` when its path is one of the operations routes; returns whether it did. */
export function serveOperations(req: IncomingMessage, res: ServerResponse, routes: OperationsRoutes): boolean {
  const path = (req.url ?? "/").split("?", 1)[0] as string;
  if (!OPERATIONS_PATHS.has(path)) return false;
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { allow: "GET, HEAD", "content-type": "application/json" });
    res.end(JSON.stringify({ status: "error", reason: `${path} answers GET and HEAD only` }));
    return true;
  }
  void answer(path, req, res, routes).catch((error: unknown) => {
    if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
    res.end(JSON.stringify({ status: "error", reason: error instanceof Error ? error.message : String(error) }));
  });
  return true;
}

async function answer(path: string, req: IncomingMessage, res: ServerResponse, routes: OperationsRoutes): Promise<void> {
  if (path === "/healthz") return json(res, 200, { status: "ok" });
  if (path === "/readyz") {
    const readiness = await routes.readiness();
    return readiness.ready ? json(res, 200, { status: "ready" }) : json(res, 503, { status: "unavailable", reason: readiness.reason });
  }
  if (!routes.mayReadMetrics(req.headers.authorization)) {
    return json(res, 403, { status: "forbidden", reason: "this server needs a token (Authorization: Bearer <FORGE_API_TOKEN>)" });
  }
  const body = await routes.metrics.exposition();
  res.writeHead(200, { "content-type": routes.metrics.registry.contentType, "cache-control": "no-store" });
  res.end(req.method === "HEAD" ? undefined : body);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(`${JSON.stringify(body)}\n`);
}
