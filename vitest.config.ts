import { createRequire } from "node:module";
import { defineConfig } from "vitest/config";

const require = createRequire(import.meta.url);

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
  },
});
