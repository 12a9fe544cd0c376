import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DocumentTypeDecoration } from "@graphql-typed-document-node/core";
import { pino } from "pino";
import { onTestFinished } from "vitest";
import { type Clock, TestClock } from "../../src/clock.ts";
import { loadConfig } from "../../src/config.ts";
import type { AuditTrail } from "../../src/engine/audit.ts";
import type { StepRegistry } from "../../src/engine/steps/registry.ts";
import { type App, buildApp } from "../../src/server.ts";
import type { CreateRunInput } from "../gql/graphql.ts";

export const openApps = new Set<App>();

/** The database this test run targets: the vitest project sets FORGE_TEST_DIALECT (vitest.config.ts). */
export const dialect: "sqlite" | "postgres" = process.env.FORGE_TEST_DIALECT === "postgres" ? "postgres" : "sqlite";

/** PostgreSQL schemas handed out by freshDbUrl in this test file; dropped after it (setup.ts). */
export const createdSchemas: string[] = [];

/**
 * A fresh, empty database URL: on SQLite a new file in its own temporary folder, on
 * PostgreSQL a new schema (created when Forge first connects) in TEST_DATABASE_URL's database.
 */
export function freshDbUrl(): string {
  if (dialect === "postgres") {
    const schema = `forge_test_${process.pid}_${createdSchemas.length}_${Math.random().toString(36).slice(2, 8)}`;
    createdSchemas.push(schema);
    const url = new URL(testDatabaseUrl());
    url.searchParams.set("schema", schema);
    return url.toString();
  }
  return `file:${join(mkdtempSync(join(tmpdir(), "forge-test-")), "forge.db")}`;
}

export function testDatabaseUrl(): string {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) throw new Error("TEST_DATABASE_URL is not set");
  return url;
}

export const ADMIN = "admin-token-for-tests";
export const API = "api-token-for-tests";

export interface TestForge {
  app: App;
  clock: Clock;
  dbUrl: string;
  /**
   * POST /graphql through yoga.fetch; `token` goes in the Authorization header. It accepts
   * what today's clients accept first (`application/graphql-response+json`), so statuses are
   * the specification's: 400 for a request error, 403, 500, 503.
   */
  gql<R = any, V = Record<string, unknown>>(
    query: DocumentTypeDecoration<R, V> | string,
    variables?: V,
    token?: string | null,
  ): Promise<{ status: number; data: R | null; errors: GraphQLErrorJson[] | undefined }>;
  stop(): Promise<void>;
}

export interface GraphQLErrorJson {
  message: string;
  extensions?: { code?: string };
  path?: Array<string | number>;
}

/**
 * Starts a real Forge app (real SQLite file, real schema) for one test, stopped when the
 * test finishes. The clock is a TestClock unless one is given.
 */
export async function startForge(
  options: {
    env?: Record<string, string>;
    clock?: Clock;
    dbUrl?: string;
    registry?: StepRegistry;
    autoStop?: boolean;
    /** The event feed's poll interval (default 50 ms, to keep tests quick). */
    feedPollMs?: number;
    /** Where admin actions are recorded (default: the silent log). */
    audit?: AuditTrail;
  } = {},
): Promise<TestForge> {
  const dbUrl = options.dbUrl ?? freshDbUrl();
  const config = loadConfig({
    DATABASE_URL: dbUrl,
    FORGE_PORT: "0",
    FORGE_ADMIN_TOKEN: ADMIN,
    LOG_LEVEL: "silent",
    ...options.env,
  });
  const clock = options.clock ?? new TestClock();
  const app = await buildApp(config, {
    log: pino({ level: "silent" }),
    clock,
    registry: options.registry,
    feedPollMs: options.feedPollMs ?? 50,
    audit: options.audit,
  });
  openApps.add(app);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    // Leak guard: neither the stopped worker nor a tickOnce (owner "ticker:<uuid>") holds a lease,
    // and a stopped app has no claimed run and no follower. Tests that claim by hand name
    // their tickers otherwise, and may leave those leases on purpose.
    const worker = app.forge.worker;
    await worker?.stop();
    const owners = [...(worker ? [{ leaseOwner: worker.id }] : []), { leaseOwner: { startsWith: "ticker:" } }];
    // (A test that broke the database on purpose cannot be asked: that check is skipped.)
    const kept = await app.forge.db.read.run.count({ where: { OR: owners } }).catch(() => 0);
    await app.stop();
    openApps.delete(app);
    const leaks = [
      kept > 0 ? `${kept} lease(s) still held by the stopped worker or a finished tickOnce` : null,
      app.forge.scheduler.runsInFlight > 0 ? `${app.forge.scheduler.runsInFlight} claimed run(s) still in flight` : null,
      app.forge.feed.listenerCount > 0 ? `${app.forge.feed.listenerCount} event feed listener(s) still attached` : null,
    ].filter((leak) => leak !== null);
    if (leaks.length > 0) throw new Error(`Forge app leaked after stop: ${leaks.join("; ")}`);
  };
  if (options.autoStop !== false) onTestFinished(stop);
  return {
    app,
    clock,
    dbUrl,
    stop,
    async gql(query, variables, token = ADMIN) {
      const headers: Record<string, string> = {
        "content-type": "application/json",
        accept: "application/graphql-response+json, application/json;q=0.9",
      };
      if (token) headers.authorization = `Bearer ${token}`;
      const response = await app.yoga.fetch("http://forge.test/graphql", {
        method: "POST",
        headers,
        body: JSON.stringify({ query: String(query), variables }),
      });
      const body = (await response.json()) as { data?: unknown; errors?: GraphQLErrorJson[] };
      return { status: response.status, data: (body.data ?? null) as never, errors: body.errors };
    },
  };
}

/** A graph of `n` noop steps in a chain: s0 <- s1 <- ... */
export function chain(n: number): { steps: Record<string, { type: string; deps: string[] }> } {
  const steps: Record<string, { type: string; deps: string[] }> = {};
  for (let i = 0; i < n; i++) steps[`s${i}`] = { type: "noop", deps: i === 0 ? [] : [`s${i - 1}`] };
  return { steps };
}

export const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** A valid createRun input (one noop step), with `extra` laid over it. */
export function runInput(extra: Partial<CreateRunInput> = {}): CreateRunInput {
  return { mode: "LIVE", jobType: "build", requestedBy: "tests", graph: { steps: { only: { type: "noop" } } }, ...extra };
}
