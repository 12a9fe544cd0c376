import { createRequire } from "node:module";
import { defineConfig } from "vitest/config";

const require = createRequire(import.meta.url);

// The whole suite runs once per dialect: always on SQLite, and on PostgreSQL whenever
// TEST_DATABASE_URL names a database (each test file then works in schemas of its own).
const postgres = Boolean(process.env.TEST_DATABASE_URL);
if (!postgres) console.log("PostgreSQL suites skipped: TEST_DATABASE_URL is not set");

export default defineConfig({
  resolve: {
    // graphql 16 ships CommonJS (main) and ESM (module) builds without an exports map.
    // Node, and so yoga and Pothos, load the CommonJS one; Vite would hand our own code
    // the ESM one, and errors created by one copy fail `instanceof` checks of the other.
    alias: [{ find: /^graphql$/, replacement: require.resolve("graphql") }],
  },
  test: {
    include: ["tests/**/*.test.ts"],
    setupFiles: ["tests/support/setup.ts"],
    // Each test file opens its own database; files run in parallel worker processes.
    pool: "forks",
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ["default", "./tests/support/summary-reporter.ts"],
    projects: [
      { extends: true as const, test: { name: "sqlite", env: { FORGE_TEST_DIALECT: "sqlite" } } },
      ...(postgres ? [{ extends: true as const, test: { name: "postgres", env: { FORGE_TEST_DIALECT: "postgres" } } }] : []),
    ],
  },
});
