import { readFileSync } from "node:fs";
import { describe, expect, it, onTestFinished } from "vitest";
import { Db } from "../src/store/db.ts";
import { migrate } from "../src/store/migrate.ts";
import { dialect, freshDbUrl } from "./support/forge.ts";

/**
 * The data model (prisma/schema.prisma) is the source of truth for both generated clients;
 * the SQL migrations of each dialect are written by hand. This reads the model and checks
 * that the migrated database has, for every model field, a column of the right name, type
 * and nullability, and no column the model does not know.
 */
interface ModelColumn {
  table: string;
  column: string;
  type: string;
  nullable: boolean;
}

function modelColumns(): ModelColumn[] {
  const source = readFileSync(new URL("../prisma/schema.prisma", import.meta.url), "utf8");
  const columns: ModelColumn[] = [];
  for (const [, body] of source.matchAll(/^model \w+ \{\n([\s\S]*?)^\}/gm)) {
    const table = /@@map\("(\w+)"\)/.exec(body as string)?.[1];
    if (!table) throw new Error("every model maps to a table name");
    for (const line of (body as string).split("\n")) {
      const field = /^\s+(\w+)\s+(String|BigInt|Int|DateTime)(\?)?(.*)$/.exec(line);
      if (!field) continue; // relations, block attributes, blank lines
      const [, name, type, optional, rest] = field as unknown as [string, string, string, string | undefined, string];
      columns.push({ table, column: /@map\("(\w+)"\)/.exec(rest)?.[1] ?? name, type, nullable: optional === "?" });
    }
  }
  return columns;
}

/** The declared types each dialect's migrations use for a model type. */
const COLUMN_TYPES: Record<Db["dialect"], Record<string, string[]>> = {
  sqlite: { String: ["TEXT"], Int: ["INTEGER"], BigInt: ["INTEGER"], DateTime: ["DATETIME"] },
  postgres: { String: ["text"], Int: ["integer"], BigInt: ["bigint"], DateTime: ["timestamp without time zone"] },
};

async function databaseColumns(db: Db, tables: string[]): Promise<ModelColumn[]> {
  if (db.dialect === "postgres") {
    const rows = await db.read.$queryRawUnsafe<Array<{ table: string; column: string; type: string; nullable: string }>>(
      `SELECT table_name AS "table", column_name AS "column", data_type AS "type", is_nullable AS "nullable"
       FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ANY($1)`,
      tables,
    );
    return rows.map((r) => ({ ...r, nullable: r.nullable === "YES" }));
  }
  const columns: ModelColumn[] = [];
  for (const table of tables) {
    const rows = await db.read.$queryRawUnsafe<Array<{ name: string; type: string; notnull: number | bigint; pk: number | bigint }>>(
      `SELECT name, type, "notnull", pk FROM pragma_table_info('${table}')`,
    );
    // SQLite lets an INTEGER PRIMARY KEY column be declared without NOT NULL; Forge's are declared with it.
    for (const r of rows) columns.push({ table, column: r.name, type: r.type, nullable: Number(r.notnull) === 0 });
  }
  return columns;
}

describe("schema drift", () => {
  it(`the ${dialect} migrations create exactly the model's tables and columns`, async () => {
    const db = await Db.open({ url: freshDbUrl() });
    onTestFinished(() => db.close());
    await migrate(db);
    const model = modelColumns();
    expect(model.length).toBeGreaterThan(30);
    const tables = [...new Set(model.map((c) => c.table))];
    const key = (c: ModelColumn) => `${c.table}.${c.column}`;
    const actual = new Map((await databaseColumns(db, tables)).map((c) => [key(c), c]));
    const problems: string[] = [];
    for (const want of model) {
      const got = actual.get(key(want));
      actual.delete(key(want));
      if (!got) problems.push(`${key(want)}: missing`);
      else if (!COLUMN_TYPES[db.dialect][want.type]?.includes(got.type))
        problems.push(`${key(want)}: ${got.type}, model says ${want.type}`);
      else if (got.nullable !== want.nullable) problems.push(`${key(want)}: ${got.nullable ? "nullable" : "NOT NULL"}, model disagrees`);
    }
    for (const extra of actual.keys()) problems.push(`${extra}: not in the model`);
    expect(problems).toEqual([]);
  });
});
