import { describe, expect, it, onTestFinished } from "vitest";
import { systemClock, TestClock } from "../src/clock.ts";
import { checkReadiness } from "../src/ops/readiness.ts";
import { migrationFiles } from "../src/store/migrate.ts";
import { dialect, freshDbUrl, startForge } from "./support/forge.ts";
import { startPrivatePostgres } from "./support/private-postgres.ts";
import { MAIN, startProcess } from "./support/processes.ts";
import { parsePrometheus } from "./support/prometheus.ts";
import { waitFor } from "./support/wait.ts";

/** GET `path` on `origin`: its status and its JSON body. */
async function get(origin: string, path: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${origin}${path}`);
  return { status: response.status, body: await response.json() };
}

describe("/healthz and /readyz on the API process", () => {
  it("answer ok and ready while the database answers and every migration is applied", async () => {
    const forge = await startForge();
    const origin = new URL(await forge.app.start()).origin;
    expect(await get(origin, "/healthz")).toEqual({ status: 200, body: { status: "ok" } });
    expect(await get(origin, "/readyz")).toEqual({ status: 200, body: { status: "ready" } });
    const head = await fetch(`${origin}/readyz`, { method: "HEAD" });
    expect(head.status).toBe(200);
    const post = await fetch(`${origin}/healthz`, { method: "POST" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
  });

  it("is not ready while a migration is pending, naming it, and ready again once it is applied", async () => {
    const forge = await startForge();
    const origin = new URL(await forge.app.start()).origin;
    const db = forge.app.forge.db;
    const last = migrationFiles(db.dialect).at(-1)?.name as string;
    const [row] = await db.read.$queryRaw<Array<{ checksum: string; applied_at: string }>>`
      SELECT checksum, applied_at FROM forge_migrations WHERE name = ${last}`;
    await db.write((tx) => tx.$executeRaw`DELETE FROM forge_migrations WHERE name = ${last}`);
    expect(await get(origin, "/readyz")).toEqual({ status: 503, body: { status: "unavailable", reason: `migrations pending: ${last}` } });
    // Liveness does not depend on the database.
    expect((await get(origin, "/healthz")).status).toBe(200);
    await db.write(
      (tx) =>
        tx.$executeRaw`INSERT INTO forge_migrations (name, checksum, applied_at) VALUES (${last}, ${row?.checksum}, ${row?.applied_at})`,
    );
    expect(await get(origin, "/readyz")).toEqual({ status: 200, body: { status: "ready" } });
  });
});

describe.runIf(dialect === "postgres")("/readyz with the database down", () => {
  it("answers 503 saying the database is unavailable, within its timeout, and recovers by itself once it is back", async () => {
    const server = await startPrivatePostgres();
    onTestFinished(() => server.stop());
    const forge = await startForge({ dbUrl: server.url, clock: systemClock, env: { FORGE_PG_CONNECT_TIMEOUT_MS: "1000" } });
    const origin = new URL(await forge.app.start()).origin;
    expect((await get(origin, "/readyz")).status).toBe(200);
    server.halt();
    const started = Date.now();
    const down = await get(origin, "/readyz");
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(down).toEqual({ status: 503, body: { status: "unavailable", reason: expect.stringMatching(/^database unavailable: /) } });
    // In the database's words, not the client library's.
    expect((down.body as { reason: string }).reason).not.toMatch(/prisma|invocation/i);
    expect((await get(origin, "/healthz")).status).toBe(200);
    // /metrics still answers, without the queue gauges the database would give.
    const scraped = Date.now();
    const metrics = await fetch(`${origin}/metrics`);
    expect(Date.now() - scraped).toBeLessThan(10_000);
    expect(metrics.status).toBe(200);
    const families = parsePrometheus(await metrics.text());
    expect(families.get("forge_runs_created_total")?.type).toBe("counter");
    expect(families.get("forge_queue_depth")?.samples).toEqual([]);
    await server.resume();
    await waitFor(async () => (await get(origin, "/readyz")).status === 200, "readiness to come back with the database", 30_000);
  }, 60_000);
});

describe("a worker process's operations port", () => {
  it("serves /healthz, /readyz and /metrics on FORGE_WORKER_PORT (0: a free one, logged)", async () => {
    const worker = startProcess(MAIN, ["worker"], { DATABASE_URL: freshDbUrl(), FORGE_WORKER_PORT: "0" });
    let origin = "";
    await waitFor(
      () => {
        origin = /"operations":"(http:\/\/[^"]+)"/.exec(worker.output())?.[1] ?? "";
        return origin !== "";
      },
      "the worker to log its operations URL",
      30_000,
    );
    expect(await get(origin, "/healthz")).toEqual({ status: 200, body: { status: "ok" } });
    expect(await get(origin, "/readyz")).toEqual({ status: 200, body: { status: "ready" } });
    const metrics = parsePrometheus(await (await fetch(`${origin}/metrics`)).text());
    expect(metrics.get("forge_tick_duration_seconds")?.type).toBe("histogram");
    expect((await fetch(`${origin}/graphql`)).status).toBe(404);
    worker.child.kill("SIGTERM");
    expect(await worker.exited).toBe(0);
  }, 60_000);

  it("the API process refuses to start, in one line, when FORGE_PORT is taken", async () => {
    const forge = await startForge();
    const port = new URL(await forge.app.start()).port;
    const api = startProcess(MAIN, ["serve"], { DATABASE_URL: freshDbUrl(), FORGE_PORT: port });
    expect(await api.exited).toBe(1);
    expect(api.stderr().trim()).toMatch(new RegExp(`^FORGE_PORT: cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE[^\\n]*$`));
  }, 60_000);

  it("refuses to start, in one line, when FORGE_WORKER_PORT is taken", async () => {
    const forge = await startForge();
    const port = new URL(await forge.app.start()).port;
    const worker = startProcess(MAIN, ["worker"], { DATABASE_URL: freshDbUrl(), FORGE_WORKER_PORT: port });
    expect(await worker.exited).toBe(1);
    expect(worker.stderr().trim()).toMatch(new RegExp(`^FORGE_WORKER_PORT: cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
  }, 60_000);
});

describe("a worker's readiness", () => {
  it("fails once its last heartbeat is older than three heartbeat intervals", async () => {
    const clock = new TestClock();
    const forge = await startForge({ clock });
    const db = forge.app.forge.db;
    let last: Date | null = clock.now();
    const heartbeat = { lastAt: () => last, maxAgeMs: 15_000 };
    expect(await checkReadiness({ db, clock, heartbeat })).toEqual({ ready: true });
    clock.advance(15_000);
    expect(await checkReadiness({ db, clock, heartbeat })).toEqual({ ready: true });
    clock.advance(1_000);
    expect(await checkReadiness({ db, clock, heartbeat })).toEqual({ ready: false, reason: "the worker's last heartbeat is 16 s old" });
    last = null;
    expect(await checkReadiness({ db, clock, heartbeat })).toEqual({ ready: false, reason: "the worker has not registered yet" });
  });
});
