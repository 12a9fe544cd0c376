import { z } from "zod";
import { SECOND } from "./clock.ts";
import { type AllowEntry, parseAllowList } from "./domain/destination.ts";
import { isPostgresUrl, POSTGRES_DEFAULTS, type PostgresOptions, postgresSchema } from "./store/url.ts";

/**
 * Forge's configuration, parsed once from the environment. This is the only module that
 * reads `process.env`; everything else receives a frozen Config.
 */
const flag = z
  .enum(["true", "false", "1", "0", ""])
  .default("false")
  .transform((v) => v === "true" || v === "1");

const optionalSecret = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v === "" ? null : v))
  .refine((v) => v === null || v.length >= 8, "must be at least 8 characters when set");

const otlpUrl = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === "" ? null : v.trim()))
  .refine((v) => v === null || (URL.canParse(v) && /^https?:$/.test(new URL(v).protocol)), "must be an http:// or https:// URL");

const positiveInt = (fallback: number, max: number) => z.coerce.number().int().min(1).max(max).default(fallback);

// Browsers and request limits (API.md, "Robustness rules"): every bound a client's request
// meets, kept together so each can be raised in one place.
const MiB = 1024 * 1024;

/**
 * The tunables of the engine's systems (engine/resources.ts), all in one place: those with a
 * FORGE_* variable take its value, the others these defaults. Systems read them from the
 * resources they share, never from constants of each other's modules.
 */
export interface EngineTunables {
  /** FORGE_LEASE_MS. */
  leaseMs: number;
  /** FORGE_TICK_LIMIT. */
  tickLimit: number;
  /** FORGE_TICK_INTERVAL_MS. */
  tickIntervalMs: number;
  /** FORGE_WORKER_CONCURRENCY. */
  workerConcurrency: number;
  /** FORGE_ARTIFACT_MAX_BYTES. */
  artifactMaxBytes: number;
  /** Step attempts per run per tick. 10,000 exceeds any graph the default policy allows, so a
   * noop graph always finishes in one tick; the bound only stops a runaway graph from holding
   * its lease forever. */
  stepBudget: number;
  /** Attempts of one run running at once (a wave of ready steps is started this many at a time). */
  stepConcurrency: number;
  /** A tick whose runs have not all finished after this long is waiting on slow steps (the
   * network, long handlers): from then on each run is committed as soon as it finishes, and the
   * worker may start another tick beside it. Quick ticks commit all their runs at once. */
  slowTickMs: number;
  /** The longest a tick goes without renewing its leases (and learning of cancellations made elsewhere). */
  leaseCheckMaxMs: number;
  /** Refusals of a run's changes in a row after which the run is FAILED (engine/commit.ts). */
  commitBudget: number;
  /** A refused run is tried again after this long, doubling with each refusal: room for a passing fault to clear. */
  refusedRetryMs: number;
  /** A live worker writes its row at least this often, so a row older than three of these means a dead worker. */
  heartbeatMs: number;
  /** How long a worker's stop() lets ticks in progress finish; steps still running then are
   * aborted and their runs given back uncommitted (another worker runs them again). */
  stopGraceMs: number;
  /** Bounds how late the event feed sees an event committed elsewhere (or whose notification
   * was lost). Half a second costs one indexed query per interval. */
  feedPollMs: number;
  /** FORGE_RETENTION_DAYS: finished runs of job types whose policy sets no retentionDays are
   * pruned this many days after they finish; 0 keeps them forever. */
  retentionDays: number;
  /** FORGE_PRUNE_INTERVAL_MS: how often a worker process prunes by the retention policy. */
  pruneIntervalMs: number;
}

/** The engine's tunables by default (the FORGE_* variables' defaults among them, each explained there). */
export const ENGINE_DEFAULTS: Readonly<EngineTunables> = Object.freeze({
  leaseMs: 30 * SECOND,
  tickLimit: 100,
  tickIntervalMs: 1 * SECOND,
  workerConcurrency: 4,
  artifactMaxBytes: 1024 * 1024,
  stepBudget: 10_000,
  stepConcurrency: 16,
  slowTickMs: 100,
  leaseCheckMaxMs: 1 * SECOND,
  commitBudget: 3,
  refusedRetryMs: 1 * SECOND,
  heartbeatMs: 5 * SECOND,
  stopGraceMs: 10 * SECOND,
  feedPollMs: 500,
  retentionDays: 0,
  pruneIntervalMs: 60 * 60 * SECOND,
});

/** An origin exactly as a browser sends it in `Origin`: scheme://host[:port], nothing after. */
function isOrigin(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  return (url.protocol === "http:" || url.protocol === "https:") && url.origin === value;
}

const requestEnv = {
  /** Origins (comma-separated) whose pages may call the API from a browser; unset: same origin only. */
  FORGE_CORS_ORIGINS: z
    .string()
    .default("")
    .transform((v) =>
      v
        .split(",")
        .map((o) => o.trim())
        .filter((o) => o !== ""),
    )
    .superRefine((origins, ctx) => {
      const bad = origins.find((o) => !isOrigin(o));
      if (bad !== undefined) {
        ctx.addIssue({
          code: "custom",
          message: `"${bad}" is not an origin like https://dash.example.com (scheme://host[:port], nothing after)`,
        });
      }
    }),
  /** Largest HTTP body or graphql-ws message. A 1,000-step graph with every dep it may have is under 1 MiB. */
  FORGE_MAX_BODY_BYTES: positiveInt(4 * MiB, 1024 * MiB),
  /** Tokens in one document: the standard introspection query has 165, a large dashboard query a few thousand. */
  FORGE_MAX_TOKENS: positiveInt(20_000, 10_000_000),
  /** Fields nested in one operation: the standard introspection query is 15 deep, Forge's own types 5. */
  FORGE_MAX_DEPTH: positiveInt(16, 256),
  /** Aliased fields in one operation (each may ask for a page of its own). */
  FORGE_MAX_ALIASES: positiveInt(100, 100_000),
  /** Estimated cost of one operation (src/api/cost.ts: a list costs its page size times its selection). */
  FORGE_MAX_COST: positiveInt(50_000, 1_000_000_000),
  /** Brackets nested in one document ({, [ and ( together). graphql-js parses them recursively and
   * overflows the stack between 1,000 and 2,000 levels, hence the cap; Forge's inputs need < 100. */
  FORGE_MAX_NESTING: positiveInt(128, 512),
  /** Comparisons of fields that share a response name (and fields met expanding fragments) that
   * validating one document may take (src/api/merge-work.ts). The standard introspection query
   * needs 244 and a large dashboard query about 60; at 10,000 validation stays near 20 ms,
   * while 400 copies of one nested field needed 800,000 and 400 ms. */
  FORGE_MAX_FIELD_COMPARISONS: positiveInt(10_000, 100_000_000),
  /** Memory for parsed documents kept for reuse, in bytes (0: no cache). */
  FORGE_DOCUMENT_CACHE_BYTES: z.coerce
    .number()
    .int()
    .min(0)
    .max(64 * 1024 * MiB)
    .default(32 * MiB),
  /** Memory for subscription answers shared between subscribers of the same selection (src/api/fanout.ts),
   * all selections together. 16 MiB holds tens of thousands of events' answers. */
  FORGE_SHARED_ANSWERS_BYTES: positiveInt(16 * MiB, 64 * 1024 * MiB),
  /** Open graphql-ws operations on one connection. */
  FORGE_MAX_SUBSCRIPTIONS_PER_CONNECTION: positiveInt(100, 1_000_000),
  /** Open graphql-ws operations on the whole process. */
  FORGE_MAX_SUBSCRIPTIONS: positiveInt(10_000, 10_000_000),
  /** A graphql-ws client whose unsent messages pass this many bytes is disconnected. */
  FORGE_SUBSCRIBER_MAX_BUFFERED_BYTES: positiveInt(1 * MiB, 1024 * MiB),
  /** Bytes of large values (JSON fields, artifact contents) one answer may hold (src/api/answer-budget.ts).
   * 64 MiB is a page of 500 runs with 1,000-step graphs, twice over. */
  FORGE_MAX_ANSWER_BYTES: positiveInt(64 * MiB, 64 * 1024 * MiB),
};

export type RequestLimits = Readonly<{
  maxBodyBytes: number;
  maxTokens: number;
  maxDepth: number;
  maxAliases: number;
  maxCost: number;
  maxNesting: number;
  maxFieldComparisons: number;
  documentCacheBytes: number;
  maxSubscriptionsPerConnection: number;
  maxSubscriptions: number;
  subscriberMaxBufferedBytes: number;
  maxAnswerBytes: number;
  sharedAnswersBytes: number;
}>;

function requestConfig(e: z.infer<z.ZodObject<typeof requestEnv>>): { corsOrigins: readonly string[]; limits: RequestLimits } {
  return {
    corsOrigins: Object.freeze(e.FORGE_CORS_ORIGINS),
    limits: Object.freeze({
      maxBodyBytes: e.FORGE_MAX_BODY_BYTES,
      maxTokens: e.FORGE_MAX_TOKENS,
      maxDepth: e.FORGE_MAX_DEPTH,
      maxAliases: e.FORGE_MAX_ALIASES,
      maxCost: e.FORGE_MAX_COST,
      maxNesting: e.FORGE_MAX_NESTING,
      maxFieldComparisons: e.FORGE_MAX_FIELD_COMPARISONS,
      documentCacheBytes: e.FORGE_DOCUMENT_CACHE_BYTES,
      maxSubscriptionsPerConnection: e.FORGE_MAX_SUBSCRIPTIONS_PER_CONNECTION,
      maxSubscriptions: e.FORGE_MAX_SUBSCRIPTIONS,
      subscriberMaxBufferedBytes: e.FORGE_SUBSCRIBER_MAX_BUFFERED_BYTES,
      maxAnswerBytes: e.FORGE_MAX_ANSWER_BYTES,
      sharedAnswersBytes: e.FORGE_SHARED_ANSWERS_BYTES,
    }),
  };
}

const schema = z.object({
  ...requestEnv,
  /** `file:` path for SQLite (the default keeps data beside the checkout, under ./data), or
   * a `postgres://` / `postgresql://` URL, optionally with `?schema=name`. */
  DATABASE_URL: z
    .string()
    .default("file:./data/forge.db")
    .refine((v) => v.startsWith("file:") || isPostgresUrl(v), "must be a file: URL (for example file:./data/forge.db) or a postgres:// URL")
    // Forge opens the file twice (a writer and a reader), and two :memory: connections are two databases.
    .refine(
      (v) => !v.startsWith("file:") || (v.length > "file:".length && !v.startsWith("file::memory:")),
      "must name a database file (:memory: is not supported)",
    )
    .refine((v) => !isPostgresUrl(v) || URL.canParse(v), "is not a valid postgres:// URL")
    .refine(
      (v) => !isPostgresUrl(v) || !URL.canParse(v) || postgresSchema(v) !== null,
      "schema must be a plain identifier (letters, digits, _; at most 48 characters)",
    ),
  FORGE_HOST: z.string().min(1).default("127.0.0.1"),
  FORGE_PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  /** The port of a worker process (`forge worker`): its /healthz, /readyz and /metrics. 0 picks
   * a free one (logged at start), for several workers on one machine. */
  FORGE_WORKER_PORT: z.coerce.number().int().min(0).max(65535).default(4001),
  FORGE_ADMIN_TOKEN: optionalSecret,
  FORGE_API_TOKEN: optionalSecret,
  FORGE_WORKER_ENABLED: flag,
  /** Runs one worker tick advances at most. 100 amortizes a commit over many runs while
   * keeping one tick well under a second on a small machine. */
  FORGE_TICK_LIMIT: positiveInt(ENGINE_DEFAULTS.tickLimit, 1000),
  /** How long an idle worker waits before looking again; new runs created in this
   * process wake it at once, so this only bounds the delay for work from elsewhere. */
  FORGE_TICK_INTERVAL_MS: positiveInt(ENGINE_DEFAULTS.tickIntervalMs, 60 * 60 * SECOND),
  /** Ticks one worker runs at once. A second tick starts only beside a slow one (its steps wait
   * on the network or on long handlers), so one slow step does not stall every other run. */
  FORGE_WORKER_CONCURRENCY: positiveInt(ENGINE_DEFAULTS.workerConcurrency, 64),
  /** A lease outlives a crashed ticker by at most this long. 30 s is far above a tick's
   * duration, so a live ticker never loses its lease to expiry. */
  FORGE_LEASE_MS: positiveInt(ENGINE_DEFAULTS.leaseMs, 60 * 60 * SECOND),
  /** SQLite `synchronous`: FULL (default) fsyncs the WAL at every commit, so a committed
   * transaction survives power loss; NORMAL is faster but may lose the last commits then. */
  FORGE_SQLITE_SYNCHRONOUS: z.enum(["FULL", "NORMAL"]).default("FULL"),
  /** PostgreSQL: connections per process. Each worker tick and each API request holds at most
   * one at a time; ten leaves room for concurrent requests without crowding a small server
   * (max_connections is 100 by default, shared by every Forge process). */
  FORGE_PG_POOL_SIZE: positiveInt(POSTGRES_DEFAULTS.poolSize, 1000),
  /** PostgreSQL: the server cancels any statement running longer than this (0 = no limit). */
  FORGE_PG_STATEMENT_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(24 * 60 * 60 * SECOND)
    .default(POSTGRES_DEFAULTS.statementTimeoutMs),
  /** PostgreSQL: a query fails if no connection could be opened within this long (a server
   * that is down or restarting gets a clear error instead of a hang). */
  FORGE_PG_CONNECT_TIMEOUT_MS: positiveInt(POSTGRES_DEFAULTS.connectTimeoutMs, 10 * 60 * SECOND),
  /** How long startup keeps trying an unreachable database (0: fail at the first try). A
   * minute covers a PostgreSQL restart or failover, so processes started meanwhile join
   * once it is back, and is short enough that a wrong host still fails visibly. */
  FORGE_DB_STARTUP_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(24 * 60 * 60 * SECOND)
    .default(60 * SECOND),
  /** The policy file (API.md, "Policies"); unset: ./forge.policy.json when present, else the built-in policy. */
  FORGE_POLICY_FILE: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v === "" ? null : v)),
  /** Days after which finished runs are pruned when their job type's policy sets no
   * retentionDays (API.md, "Retention"); 0, the default, keeps them forever. */
  FORGE_RETENTION_DAYS: z.coerce.number().int().min(0).max(36_500).default(ENGINE_DEFAULTS.retentionDays),
  /** How often a worker process prunes by the retention policy: once an hour by default. */
  FORGE_PRUNE_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(SECOND)
    .max(7 * 24 * 60 * 60 * SECOND)
    .default(ENGINE_DEFAULTS.pruneIntervalMs),
  /** The largest artifact a step may write. */
  FORGE_ARTIFACT_MAX_BYTES: positiveInt(ENGINE_DEFAULTS.artifactMaxBytes, 64 * 1024 * 1024),
  /** Modules that register more step types: comma-separated paths (relative to the working
   * directory) or package names. */
  FORGE_STEP_MODULES: z
    .string()
    .default("")
    .transform((v) =>
      v
        .split(",")
        .map((m) => m.trim())
        .filter((m) => m !== ""),
    ),
  /** `true`: http steps may reach every address, loopback and private networks included. Off by
   * default, so that whoever may create a run cannot read what only this machine can reach. */
  FORGE_HTTP_ALLOW_PRIVATE: flag,
  /** Internal destinations http steps may reach (comma-separated): host names (`*.corp.example`
   * for subdomains), addresses and CIDR ranges (domain/destination.ts). */
  FORGE_HTTP_ALLOW_HOSTS: z
    .string()
    .default("")
    .transform((v, ctx) => {
      const parsed = parseAllowList(v);
      if ("entries" in parsed) return parsed.entries;
      ctx.addIssue({ code: "custom", message: parsed.problem });
      return z.NEVER;
    }),
  /** OpenTelemetry (API.md, "Operations"): traces go over OTLP/HTTP to `<endpoint>/v1/traces`
   * when set (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, a full URL, wins); unset, nothing is traced. */
  OTEL_EXPORTER_OTLP_ENDPOINT: otlpUrl,
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: otlpUrl,
  /** `key=value` pairs, comma-separated, values URL-encoded (the OpenTelemetry convention): sent with every export. */
  OTEL_EXPORTER_OTLP_HEADERS: z
    .string()
    .default("")
    .transform((v, ctx) => {
      const headers: Record<string, string> = {};
      for (const pair of v.split(",").filter((p) => p.trim() !== "")) {
        const at = pair.indexOf("=");
        if (at <= 0) {
          ctx.addIssue({ code: "custom", message: `"${pair.trim()}" is not key=value` });
          return z.NEVER;
        }
        const key = pair.slice(0, at).trim();
        try {
          headers[key] = decodeURIComponent(pair.slice(at + 1).trim());
        } catch {
          ctx.addIssue({ code: "custom", message: `the value of "${key}" is not URL-encoded text` });
          return z.NEVER;
        }
      }
      return headers;
    }),
  OTEL_SERVICE_NAME: z.string().min(1).default("forge"),
  /** Which ticks are traced (OpenTelemetry's sampler names); an attempt's span follows its tick's. */
  OTEL_TRACES_SAMPLER: z
    .enum(["always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"])
    .default("parentbased_always_on"),
  /** The share of ticks traced by the *traceidratio samplers, 0 to 1. */
  OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).default(1),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  NODE_ENV: z.enum(["development", "production", "test"]).default("production"),
});

/** OTEL_TRACES_SAMPLER's values. */
export type TraceSampler = z.infer<typeof schema>["OTEL_TRACES_SAMPLER"];

export type Config = Readonly<{
  databaseUrl: string;
  host: string;
  port: number;
  /** FORGE_WORKER_PORT. */
  workerPort: number;
  adminToken: string | null;
  apiToken: string | null;
  workerEnabled: boolean;
  engine: Readonly<EngineTunables>;
  sqliteSynchronous: "FULL" | "NORMAL";
  postgres: PostgresOptions;
  dbStartupTimeoutMs: number;
  policyFile: string | null;
  stepModules: readonly string[];
  http: Readonly<{ allowPrivate: boolean; allowHosts: readonly AllowEntry[] }>;
  logLevel: z.infer<typeof schema>["LOG_LEVEL"];
  development: boolean;
  /** Browser origins allowed besides the API's own (FORGE_CORS_ORIGINS). */
  corsOrigins: readonly string[];
  limits: RequestLimits;
  /** Where traces go (OTEL_EXPORTER_OTLP_*); null: no tracing. */
  tracing: Readonly<{
    url: string;
    serviceName: string;
    headers: Readonly<Record<string, string>>;
    sampler: Readonly<{ name: TraceSampler; ratio: number }>;
  }> | null;
}>;

/** The OTLP traces URL: the signal-specific one as given, else the base endpoint with /v1/traces. */
function tracesUrl(e: { OTEL_EXPORTER_OTLP_ENDPOINT: string | null; OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: string | null }): string | null {
  if (e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (!e.OTEL_EXPORTER_OTLP_ENDPOINT) return null;
  return `${e.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, "")}/v1/traces`;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Parses the environment. Throws ConfigError whose message is one line per bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const result = schema.safeParse(env);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => `invalid ${String(issue.path[0])}: ${issue.message}`);
    throw new ConfigError(lines.join("\n"));
  }
  const e = result.data;
  return Object.freeze({
    databaseUrl: e.DATABASE_URL,
    host: e.FORGE_HOST,
    port: e.FORGE_PORT,
    workerPort: e.FORGE_WORKER_PORT,
    adminToken: e.FORGE_ADMIN_TOKEN,
    apiToken: e.FORGE_API_TOKEN,
    workerEnabled: e.FORGE_WORKER_ENABLED,
    engine: Object.freeze({
      ...ENGINE_DEFAULTS,
      leaseMs: e.FORGE_LEASE_MS,
      tickLimit: e.FORGE_TICK_LIMIT,
      tickIntervalMs: e.FORGE_TICK_INTERVAL_MS,
      workerConcurrency: e.FORGE_WORKER_CONCURRENCY,
      artifactMaxBytes: e.FORGE_ARTIFACT_MAX_BYTES,
      retentionDays: e.FORGE_RETENTION_DAYS,
      pruneIntervalMs: e.FORGE_PRUNE_INTERVAL_MS,
    }),
    sqliteSynchronous: e.FORGE_SQLITE_SYNCHRONOUS,
    postgres: Object.freeze({
      poolSize: e.FORGE_PG_POOL_SIZE,
      statementTimeoutMs: e.FORGE_PG_STATEMENT_TIMEOUT_MS,
      connectTimeoutMs: e.FORGE_PG_CONNECT_TIMEOUT_MS,
    }),
    dbStartupTimeoutMs: e.FORGE_DB_STARTUP_TIMEOUT_MS,
    policyFile: e.FORGE_POLICY_FILE,
    stepModules: Object.freeze(e.FORGE_STEP_MODULES),
    http: Object.freeze({ allowPrivate: e.FORGE_HTTP_ALLOW_PRIVATE, allowHosts: Object.freeze(e.FORGE_HTTP_ALLOW_HOSTS) }),
    logLevel: e.LOG_LEVEL,
    development: e.NODE_ENV === "development",
    tracing: tracesUrl(e)
      ? Object.freeze({
          url: tracesUrl(e) as string,
          serviceName: e.OTEL_SERVICE_NAME,
          headers: Object.freeze(e.OTEL_EXPORTER_OTLP_HEADERS),
          sampler: Object.freeze({ name: e.OTEL_TRACES_SAMPLER, ratio: e.OTEL_TRACES_SAMPLER_ARG }),
        })
      : null,
    ...requestConfig(e),
  });
}
