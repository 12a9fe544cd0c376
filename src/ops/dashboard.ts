import { readFile, stat } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The web dashboard (API.md, "Operations": "Dashboard"), served from dashboard/dist as
 * `npm run build:dashboard` leaves it. The files hold no data (the page reads everything
 * through /graphql with the user's token), so they are served without a token even when
 * FORGE_API_TOKEN is set.
 *
 * - The client routes (`/`, `/runs/<id>`, `/queue`) answer index.html, so a run's URL can be
 *   shared and reloaded. It is served `no-cache`: a rebuild takes effect at the next load.
 * - `/assets/<name>` answers a built file. Vite puts a content hash in every name, so each is
 *   cached for a year as immutable.
 * - Anything else is not the dashboard's: the caller's next handler (yoga) answers it.
 *
 * Written here rather than with a static-file middleware (serve-static, sirv): what Forge needs
 * is three exact client routes, one folder of hashed files and everything else handed on to
 * yoga, which is less than such a middleware's configuration of fallbacks and exclusions.
 */
export const DASHBOARD_DIST = fileURLToPath(new URL("../../dashboard/dist/", import.meta.url));

const YEAR_SECONDS = 365 * 24 * 60 * 60;

/** Paths the dashboard's router draws (dashboard/src/main.tsx); each answers index.html. */
const CLIENT_ROUTES = [/^\/$/, /^\/queue$/, /^\/runs\/[^/]+$/];

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".html": "text/html; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
};

const NOT_BUILT = "the dashboard is not built: run npm run build:dashboard\n";

/** Answers `req` when its path is the dashboard's; returns whether it did. `dist` is for tests. */
export function serveDashboard(req: IncomingMessage, res: ServerResponse, dist: string = DASHBOARD_DIST): boolean {
  const path = (req.url ?? "/").split("?", 1)[0] as string;
  const isAsset = path.startsWith("/assets/");
  if (!isAsset && !CLIENT_ROUTES.some((route) => route.test(path))) return false;
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" });
    res.end(`${path} answers GET and HEAD only\n`);
    return true;
  }
  const answer = isAsset ? serveAsset(path, req, res, dist) : serveFile(join(dist, "index.html"), req, res, "no-cache", dist);
  void answer.catch((error: unknown) => {
    if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
    res.end(`the dashboard could not be read: ${error instanceof Error ? error.message : String(error)}\n`);
  });
  return true;
}

async function serveAsset(path: string, req: IncomingMessage, res: ServerResponse, dist: string): Promise<void> {
  const file = assetFile(path, dist);
  if (file === null) return text(res, req, 404, `no such dashboard asset: ${path}\n`);
  await serveFile(file, req, res, `public, max-age=${YEAR_SECONDS}, immutable`, dist);
}

/**
 * The file under dist/assets that `path` names, or null when it names none: a name that does
 * not decode, holds a NUL or a backslash, or resolves outside dist/assets (`..`, encoded or not).
 */
export function assetFile(path: string, dist: string): string | null {
  let name: string;
  try {
    name = decodeURIComponent(path.slice("/assets/".length));
  } catch {
    return null;
  }
  if (name === "" || name.includes("\0") || name.includes("\\")) return null;
  const root = resolve(dist, "assets");
  const file = resolve(root, name);
  return file.startsWith(root + sep) ? file : null;
}

async function serveFile(file: string, req: IncomingMessage, res: ServerResponse, cacheControl: string, dist: string): Promise<void> {
  const found = await stat(file).catch(() => null);
  if (found === null || !found.isFile()) {
    // Without index.html nothing was built; a missing asset of a built dashboard is just absent.
    const built = await stat(join(dist, "index.html")).catch(() => null);
    return built ? text(res, req, 404, `no such dashboard asset: ${req.url}\n`) : text(res, req, 503, NOT_BUILT);
  }
  const body = req.method === "HEAD" ? undefined : await readFile(file);
  res.writeHead(200, {
    "content-type": CONTENT_TYPES[extname(file)] ?? "application/octet-stream",
    "content-length": found.size,
    "cache-control": cacheControl,
    "x-content-type-options": "nosniff",
  });
  res.end(body);
}

function text(res: ServerResponse, req: IncomingMessage, status: number, body: string): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" });
  res.end(req.method === "HEAD" ? undefined : body);
}
