import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { serveDashboard } from "../src/ops/dashboard.ts";
import { API, dialect, startForge } from "./support/forge.ts";

// How Forge serves the dashboard's files (src/ops/dashboard.ts): the client routes answer
// index.html, hashed assets are cached for a year, nothing outside dist is ever read, and a
// missing build says how to make one. A built dist of our own makes the test independent of
// `npm run build:dashboard`; the last test goes through the real server and its routes.

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A raw request: `path` goes on the wire as written (fetch would resolve `..` first). */
function send(origin: string, path: string, method = "GET", headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const url = new URL(origin);
    const req = request({ host: url.hostname, port: url.port, path, method, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => {
        body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** A server answering with serveDashboard over `dist`, and 418 for what it leaves to others. */
async function serve(dist: string): Promise<string> {
  const server = createServer((req, res) => {
    if (serveDashboard(req, res, dist)) return;
    res.writeHead(418).end("not the dashboard's");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A dist as Vite leaves it, plus a secret beside it that must never be served. */
function builtDist(): string {
  const root = mkdtempSync(join(tmpdir(), "forge-dashboard-"));
  const dist = join(root, "dist");
  mkdirSync(join(dist, "assets"), { recursive: true });
  writeFileSync(join(dist, "index.html"), "<!doctype html><title>Forge</title>");
  writeFileSync(join(dist, "assets", "index-abc123.js"), "console.log('forge')");
  writeFileSync(join(dist, "assets", "index-abc123.css"), "body{}");
  writeFileSync(join(root, "secret.txt"), "not for browsers");
  writeFileSync(join(dist, "secret.txt"), "not an asset either");
  return dist;
}

describe.runIf(dialect === "sqlite")("the dashboard's files", () => {
  it("/, /runs/<id> and /queue answer index.html, fresh each time; GET and HEAD only", async () => {
    const origin = await serve(builtDist());
    for (const path of ["/", "/runs/r-1", "/runs/build:2026.11-a", "/queue", "/?status=FAILED&after=abc"]) {
      const answer = await send(origin, path);
      expect(answer.status, path).toBe(200);
      expect(answer.headers["content-type"]).toBe("text/html; charset=utf-8");
      expect(answer.headers["cache-control"]).toBe("no-cache");
      expect(answer.body).toContain("<title>Forge</title>");
    }
    const head = await send(origin, "/runs/r-1", "HEAD");
    expect(head.status).toBe(200);
    expect(head.body).toBe("");
    expect(Number(head.headers["content-length"])).toBeGreaterThan(0);
    expect((await send(origin, "/", "POST")).status).toBe(405);
    // Paths that are no page of the dashboard are left to the next handler.
    for (const path of ["/graphql", "/runs", "/runs/a/b", "/favicon.ico", "/healthz"])
      expect((await send(origin, path)).status, path).toBe(418);
  });

  it("assets are served with their content type and a year's immutable cache; an unknown one is 404", async () => {
    const origin = await serve(builtDist());
    const js = await send(origin, "/assets/index-abc123.js");
    expect(js.status).toBe(200);
    expect(js.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(js.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    expect(js.body).toBe("console.log('forge')");
    const css = await send(origin, "/assets/index-abc123.css", "HEAD");
    expect(css.status).toBe(200);
    expect(css.headers["content-type"]).toBe("text/css; charset=utf-8");
    expect(css.body).toBe("");
    const missing = await send(origin, "/assets/index-000000.js");
    expect(missing.status).toBe(404);
    expect(missing.headers["cache-control"]).toBe("no-store");
  });

  it("a path that tries to leave dist/assets is 404 and reads nothing outside it", async () => {
    const origin = await serve(builtDist());
    for (const path of [
      "/assets/../secret.txt",
      "/assets/../../secret.txt",
      "/assets/..%2fsecret.txt",
      "/assets/..%2f..%2fsecret.txt",
      "/assets/%2e%2e/%2e%2e/secret.txt",
      "/assets/..%5c..%5csecret.txt",
      "/assets/index-abc123.js%00.png",
      "/assets/%E0%A4%A",
      "/assets/",
      "/assets/%2Fetc%2Fpasswd",
    ]) {
      const answer = await send(origin, path);
      expect(answer.status, path).toBe(404);
      expect(answer.body, path).not.toContain("not for browsers");
      expect(answer.body, path).not.toContain("not an asset");
    }
  });

  it("without a build, every dashboard path answers 503 saying to run npm run build:dashboard", async () => {
    const origin = await serve(join(mkdtempSync(join(tmpdir(), "forge-dashboard-")), "dist"));
    for (const path of ["/", "/runs/r-1", "/queue", "/assets/index-abc123.js"]) {
      const answer = await send(origin, path);
      expect(answer.status, path).toBe(503);
      expect(answer.headers["content-type"]).toBe("text/plain; charset=utf-8");
      expect(answer.body).toBe("the dashboard is not built: run npm run build:dashboard\n");
    }
  });

  it("Forge serves the dashboard beside /healthz, /metrics and GraphiQL; with FORGE_API_TOKEN set the page needs no token, GraphQL still does", async () => {
    const forge = await startForge({ env: { FORGE_API_TOKEN: API } });
    const origin = new URL(await forge.app.start()).origin;
    // index.html is served whether or not it was built: 200 from a build, 503 without one.
    const page = await send(origin, "/runs/anything");
    expect([200, 503]).toContain(page.status);
    expect((await send(origin, "/healthz")).status).toBe(200);
    expect((await send(origin, "/metrics")).status).toBe(403);
    const graphiql = await send(origin, "/graphql", "GET", { accept: "text/html" });
    expect(graphiql.status).toBe(200);
    expect(graphiql.body).toContain("<title>Forge</title>");
    const query = await fetch(`${origin}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ query: "{ runs { edges { cursor } } }" }),
    });
    const body = (await query.json()) as { errors?: Array<{ extensions?: { code?: string } }> };
    expect(body.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
  });
});
