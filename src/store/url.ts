/** Which database a DATABASE_URL names, and the PostgreSQL connection settings (no I/O here). */
export function isPostgresUrl(url: string): boolean {
  return url.startsWith("postgres://") || url.startsWith("postgresql://");
}

export interface PostgresOptions {
  /** Connections in this process's pool. */
  poolSize: number;
  /** A statement running longer than this is cancelled by the server (0 = no limit). */
  statementTimeoutMs: number;
  /** How long to wait for a new connection before the query fails. */
  connectTimeoutMs: number;
}

export const POSTGRES_DEFAULTS: PostgresOptions = { poolSize: 10, statementTimeoutMs: 30_000, connectTimeoutMs: 5_000 };

/**
 * A PostgreSQL schema Forge may use: a plain identifier, short enough that the
 * notification channel named after it stays within PostgreSQL's 63-byte names.
 */
export const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,47}$/;

/** The `schema` parameter of a postgres:// URL (default public), or null when it is not a name Forge accepts. */
export function postgresSchema(url: string): string | null {
  const schema = new URL(url).searchParams.get("schema") || "public";
  return SCHEMA_NAME.test(schema) ? schema : null;
}
