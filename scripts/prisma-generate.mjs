// Generates Forge's two Prisma clients from the one data model, prisma/schema.prisma:
//   src/store/generated/     SQLite (the model as written)
//   src/store/generated-pg/  PostgreSQL (the same models; only the provider and output differ)
// The PostgreSQL schema is derived here on every run and never edited by hand, so the two
// clients cannot drift apart.
//
// It runs without network access. The Prisma CLI insists on a schema engine binary it
// would normally download, but generate never executes it, so any existing file satisfies
// the check (see README, "Prisma without its engines").
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const env = { ...process.env };
env.PRISMA_SCHEMA_ENGINE_BINARY ??= fileURLToPath(import.meta.url);
env.PRISMA_HIDE_UPDATE_MESSAGE = "1";

const model = readFileSync("prisma/schema.prisma", "utf8");
const derived = model
  .replace(/provider\s*=\s*"sqlite"/, 'provider = "postgresql"')
  .replace(/output\s*=\s*"\.\.\/src\/store\/generated"/, 'output       = "../../src/store/generated-pg"');
if (!derived.includes('"postgresql"') || !derived.includes("generated-pg")) {
  console.error("prisma/schema.prisma: could not derive the PostgreSQL schema (provider or output line changed)");
  process.exit(1);
}
mkdirSync("prisma/postgres", { recursive: true });
writeFileSync(
  "prisma/postgres/schema.prisma",
  `// Derived from prisma/schema.prisma by scripts/prisma-generate.mjs; do not edit.\n${derived}`,
);

for (const schema of ["prisma/schema.prisma", "prisma/postgres/schema.prisma"]) {
  const result = spawnSync("npx", ["--no-install", "prisma", "generate", "--schema", schema], { stdio: "inherit", env });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
