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
