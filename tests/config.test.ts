import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/config.ts";

describe("config", () => {
  it("has the documented defaults", () => {
    expect(loadConfig({})).toEqual({
      databaseUrl: "file:./data/forge.db",
      host: "127.0.0.1",
      port: 4000,
      adminToken: null,
      apiToken: null,
      workerEnabled: false,
      workerPort: 4001,
      engine: {
        leaseMs: 30000,
        tickLimit: 100,
        tickIntervalMs: 1000,
        workerConcurrency: 4,
        artifactMaxBytes: 1048576,
        stepBudget: 10_000,
        stepConcurrency: 16,
        slowTickMs: 100,
        leaseCheckMaxMs: 1000,
        commitBudget: 3,
        refusedRetryMs: 1000,
        heartbeatMs: 5000,
        stopGraceMs: 10_000,
        feedPollMs: 500,
        retentionDays: 0,
        pruneIntervalMs: 3600000,
      },
      sqliteSynchronous: "FULL",
      postgres: { poolSize: 10, statementTimeoutMs: 30000, connectTimeoutMs: 5000 },
      dbStartupTimeoutMs: 60000,
      policyFile: null,
      stepModules: [],
      tracing: null,
      http: { allowPrivate: false, allowHosts: [] },
      logLevel: "info",
      development: false,
      corsOrigins: [],
      limits: {
        maxBodyBytes: 4 * 1024 * 1024,
        maxTokens: 20_000,
        maxDepth: 16,
        maxAliases: 100,
        maxCost: 50_000,
        maxNesting: 128,
        maxFieldComparisons: 10_000,
        documentCacheBytes: 32 * 1024 * 1024,
        maxSubscriptionsPerConnection: 100,
        maxSubscriptions: 10_000,
        subscriberMaxBufferedBytes: 1024 * 1024,
        maxAnswerBytes: 64 * 1024 * 1024,
        sharedAnswersBytes: 16 * 1024 * 1024,
      },
    });
  });

  it("is frozen", () => {
    expect(Object.isFrozen(loadConfig({}))).toBe(true);
  });

  const invalid: Array<[string, Record<string, string>]> = [
    ["FORGE_PORT", { FORGE_PORT: "http" }],
    ["FORGE_PORT", { FORGE_PORT: "70000" }],
    ["FORGE_WORKER_PORT", { FORGE_WORKER_PORT: "-1" }],
    ["OTEL_EXPORTER_OTLP_ENDPOINT", { OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318" }],
    ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "grpc://collector:4317" }],
    ["OTEL_EXPORTER_OTLP_HEADERS", { OTEL_EXPORTER_OTLP_HEADERS: "api-key" }],
    ["OTEL_TRACES_SAMPLER", { OTEL_TRACES_SAMPLER: "sometimes" }],
    ["OTEL_TRACES_SAMPLER_ARG", { OTEL_TRACES_SAMPLER_ARG: "1.5" }],
    ["OTEL_EXPORTER_OTLP_HEADERS", { OTEL_EXPORTER_OTLP_HEADERS: "api-key=%E0%A4%A" }],
    ["FORGE_WORKER_ENABLED", { FORGE_WORKER_ENABLED: "yes" }],
    ["FORGE_TICK_LIMIT", { FORGE_TICK_LIMIT: "0" }],
    ["FORGE_TICK_INTERVAL_MS", { FORGE_TICK_INTERVAL_MS: "-5" }],
    ["FORGE_LEASE_MS", { FORGE_LEASE_MS: "1.5" }],
    ["FORGE_WORKER_CONCURRENCY", { FORGE_WORKER_CONCURRENCY: "0" }],
    ["FORGE_RETENTION_DAYS", { FORGE_RETENTION_DAYS: "-1" }],
    ["FORGE_RETENTION_DAYS", { FORGE_RETENTION_DAYS: "2.5" }],
    ["FORGE_PRUNE_INTERVAL_MS", { FORGE_PRUNE_INTERVAL_MS: "10" }],
    ["LOG_LEVEL", { LOG_LEVEL: "loud" }],
    ["DATABASE_URL", { DATABASE_URL: "mysql://localhost/forge" }],
    ["DATABASE_URL", { DATABASE_URL: "file::memory:" }],
    ["FORGE_ADMIN_TOKEN", { FORGE_ADMIN_TOKEN: "short" }],
    ["FORGE_SQLITE_SYNCHRONOUS", { FORGE_SQLITE_SYNCHRONOUS: "OFF" }],
    ["FORGE_ARTIFACT_MAX_BYTES", { FORGE_ARTIFACT_MAX_BYTES: "0" }],
    ["FORGE_ARTIFACT_MAX_BYTES", { FORGE_ARTIFACT_MAX_BYTES: "1MB" }],
    ["DATABASE_URL", { DATABASE_URL: "postgres://[::1" }],
    ["DATABASE_URL", { DATABASE_URL: "postgresql://localhost/forge?schema=my%20schema" }],
    ["DATABASE_URL", { DATABASE_URL: `postgresql://localhost/forge?schema=${"s".repeat(49)}` }],
    ["FORGE_PG_POOL_SIZE", { FORGE_PG_POOL_SIZE: "0" }],
    ["FORGE_PG_STATEMENT_TIMEOUT_MS", { FORGE_PG_STATEMENT_TIMEOUT_MS: "-1" }],
    ["FORGE_PG_CONNECT_TIMEOUT_MS", { FORGE_PG_CONNECT_TIMEOUT_MS: "soon" }],
    ["FORGE_HTTP_ALLOW_PRIVATE", { FORGE_HTTP_ALLOW_PRIVATE: "yes" }],
    ["FORGE_HTTP_ALLOW_HOSTS", { FORGE_HTTP_ALLOW_HOSTS: "127.1" }],
    ["FORGE_HTTP_ALLOW_HOSTS", { FORGE_HTTP_ALLOW_HOSTS: "api.internal, 10.0.0.0/33, also bad" }],
    ["FORGE_HTTP_ALLOW_HOSTS", { FORGE_HTTP_ALLOW_HOSTS: "http://api.internal:8080" }],
    ["FORGE_DB_STARTUP_TIMEOUT_MS", { FORGE_DB_STARTUP_TIMEOUT_MS: "-1" }],
    ["FORGE_DB_STARTUP_TIMEOUT_MS", { FORGE_DB_STARTUP_TIMEOUT_MS: "a minute" }],
    ["FORGE_CORS_ORIGINS", { FORGE_CORS_ORIGINS: "*" }],
    ["FORGE_MAX_BODY_BYTES", { FORGE_MAX_BODY_BYTES: "4MiB" }],
    ["FORGE_MAX_DEPTH", { FORGE_MAX_DEPTH: "0" }],
    ["FORGE_MAX_NESTING", { FORGE_MAX_NESTING: "5000" }],
    ["FORGE_DOCUMENT_CACHE_BYTES", { FORGE_DOCUMENT_CACHE_BYTES: "-1" }],
    ["FORGE_MAX_SUBSCRIPTIONS_PER_CONNECTION", { FORGE_MAX_SUBSCRIPTIONS_PER_CONNECTION: "0" }],
  ];
  for (const [name, env] of invalid) {
    it(`refuses an invalid ${name} with one line naming it (${JSON.stringify(env[name])})`, () => {
      expect(() => loadConfig(env)).toThrow(ConfigError);
      try {
        loadConfig(env);
      } catch (error) {
        const message = (error as Error).message;
        expect(message.split("\n")).toHaveLength(1);
        expect(message).toMatch(new RegExp(`^invalid ${name}: `));
        // A secret's value is never echoed.
        if (name === "FORGE_ADMIN_TOKEN") expect(message).not.toContain("short");
      }
    });
  }

  it("takes a PostgreSQL URL and its pool settings", () => {
    const config = loadConfig({
      DATABASE_URL: "postgresql://forge@db.internal:5432/forge?schema=prod",
      FORGE_PG_POOL_SIZE: "4",
      FORGE_PG_STATEMENT_TIMEOUT_MS: "0",
    });
    expect(config.databaseUrl).toBe("postgresql://forge@db.internal:5432/forge?schema=prod");
    expect(config.postgres).toEqual({ poolSize: 4, statementTimeoutMs: 0, connectTimeoutMs: 5000 });
  });

  it("reads the destinations http steps may reach (FORGE_HTTP_ALLOW_PRIVATE, FORGE_HTTP_ALLOW_HOSTS)", () => {
    const config = loadConfig({
      FORGE_HTTP_ALLOW_PRIVATE: "1",
      FORGE_HTTP_ALLOW_HOSTS: "Metadata.Internal, *.corp.example,10.0.0.0/8, fd00::1,",
    });
    expect(config.http).toEqual({
      allowPrivate: true,
      allowHosts: [
        { kind: "host", name: "metadata.internal" },
        { kind: "subdomains", suffix: ".corp.example" },
        { kind: "range", cidr: "10.0.0.0/8" },
        { kind: "range", cidr: "fd00::1/128" },
      ],
    });
    expect(() => loadConfig({ FORGE_HTTP_ALLOW_HOSTS: "ok.internal, 127.1" })).toThrow(
      /^invalid FORGE_HTTP_ALLOW_HOSTS: "127\.1" is not a host name, \*\.domain, IP address or CIDR range/,
    );
  });

  it("traces to <OTEL_EXPORTER_OTLP_ENDPOINT>/v1/traces, or to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given, with the headers", () => {
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/" }).tracing).toEqual({
      url: "http://collector:4318/v1/traces",
      serviceName: "forge",
      headers: {},
      sampler: { name: "parentbased_always_on", ratio: 1 },
    });
    expect(
      loadConfig({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://traces.example/otlp",
        OTEL_EXPORTER_OTLP_HEADERS: "api-key=a%20b, tenant=t1",
        OTEL_SERVICE_NAME: "forge-eu",
        OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
        OTEL_TRACES_SAMPLER_ARG: "0.1",
      }).tracing,
    ).toEqual({
      url: "https://traces.example/otlp",
      serviceName: "forge-eu",
      headers: { "api-key": "a b", tenant: "t1" },
      sampler: { name: "parentbased_traceidratio", ratio: 0.1 },
    });
  });

  it("takes FORGE_DB_STARTUP_TIMEOUT_MS, 0 meaning a single try", () => {
    expect(loadConfig({ FORGE_DB_STARTUP_TIMEOUT_MS: "0" }).dbStartupTimeoutMs).toBe(0);
    expect(loadConfig({ FORGE_DB_STARTUP_TIMEOUT_MS: "300000" }).dbStartupTimeoutMs).toBe(300000);
  });

  it("names every invalid variable, one per line", () => {
    expect(() => loadConfig({ FORGE_PORT: "x", LOG_LEVEL: "y" })).toThrow(/^invalid FORGE_PORT: .*\ninvalid LOG_LEVEL: /);
  });
});
