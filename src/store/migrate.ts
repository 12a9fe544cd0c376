import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type Db, type Tx, whileLocked } from "./db.ts";

/**
 * Applies the SQL migrations in prisma/migrations/<dialect>/, in file-name order. Each
 * file is applied in its own transaction together with its row in `forge_migrations`, so
 * a migration is either wholly applied and recorded or not at all; applying again is a
 * no-op. A recorded migration whose file has changed stops startup: the database and the
 * code would disagree about the schema.
 *
 * On PostgreSQL each of these transactions first takes an advisory lock, so processes
 * that start at once apply each migration exactly once: the others wait, then find it
 * recorded.
 *
 * Files hold plain statements separated by `;` at the end of a line (no triggers or
 * string literals containing semicolons).
 */
export interface MigrationReport {
  applied: string[];
  alreadyApplied: string[];
}

const MIGRATIONS_DIR = fileURLToPath(new URL("../../prisma/migrations/", import.meta.url));

export function migrationFiles(dialect: Db["dialect"]): Array<{ name: string; sql: string; checksum: string }> {
  const dir = `${MIGRATIONS_DIR}${dialect}/`;
  return readdirSync(dir)
    .filter((f) => f.endsWith(".sql"))
    .sort()
    .map((name) => {
      const sql = readFileSync(dir + name, "utf8");
      return { name, sql, checksum: createHash("sha256").update(sql).digest("hex") };
    });
}

/**
 * The tables Forge's migrations create (read from the files, so a new migration's tables
 * count too). A database that has some of them but no `forge_migrations` table belongs to
 * another application, and Forge must not migrate it (store/preflight.ts).
 */
export function forgeTableNames(dialect: Db["dialect"]): string[] {
  const names = migrationFiles(dialect).flatMap((f) =>
    [...f.sql.matchAll(/^\s*CREATE TABLE (?:IF NOT EXISTS )?"?(\w+)"?/gim)].map((m) => (m[1] as string).toLowerCase()),
  );
  return [...new Set(names)].sort();
}

/** A recorded migration's file has changed since it was applied: the database and the code disagree about the schema. */
export class MigrationMismatch extends Error {
  constructor(readonly migration: string) {
    super(`migration ${migration} was applied with different contents; restore the file or the database`);
    this.name = "MigrationMismatch";
  }
}

export function splitStatements(sql: string): string[] {
  return sql
    .replace(/--.*$/gm, "")
    .split(/;\s*$/m)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** A migration may wait for another process's, and build indexes over large tables. */
const MIGRATION_TX = { timeoutMs: 60 * 60_000 };

/** Applies `files` (default: every migration of the database's dialect; tests pass the first few to build an older schema). */
export async function migrate(db: Db, files = migrationFiles(db.dialect)): Promise<MigrationReport> {
  const start = async (tx: Tx) => {
    for (const statement of db.sql.migrationStart) await tx.$executeRaw(statement);
  };
  // whileLocked: processes starting together on a new SQLite file take turns (PostgreSQL
  // uses the migrations lock instead, and never answers "locked").
  await whileLocked(() =>
    db.write(async (tx) => {
      await start(tx);
      await tx.$executeRawUnsafe(
        "CREATE TABLE IF NOT EXISTS forge_migrations (name TEXT NOT NULL PRIMARY KEY, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)",
      );
    }, MIGRATION_TX),
  );
  const report: MigrationReport = { applied: [], alreadyApplied: [] };
  for (const file of files) {
    const outcome = await whileLocked(() =>
      db.write(async (tx) => {
        await start(tx);
        const rows = await tx.$queryRaw<Array<{ checksum: string }>>`SELECT checksum FROM forge_migrations WHERE name = ${file.name}`;
        const recorded = rows[0];
        if (recorded) {
          if (recorded.checksum !== file.checksum) {
            throw new MigrationMismatch(file.name);
          }
          return "already" as const;
        }
        for (const statement of splitStatements(file.sql)) await tx.$executeRawUnsafe(statement);
        await tx.$executeRaw`INSERT INTO forge_migrations (name, checksum, applied_at) VALUES (${file.name}, ${file.checksum}, ${new Date().toISOString()})`;
        return "applied" as const;
      }, MIGRATION_TX),
    );
    (outcome === "applied" ? report.applied : report.alreadyApplied).push(file.name);
  }
  return report;
}
