import pg from "pg";
import { afterAll } from "vitest";
import { createdSchemas, openApps, testDatabaseUrl } from "./forge.ts";

afterAll(async () => {
  // Leak guard: every app a test file starts must be stopped by the end of the file.
  if (openApps.size > 0) throw new Error(`${openApps.size} Forge app(s) left running by this test file`);
  if (createdSchemas.length === 0) return;
  const client = new pg.Client({ connectionString: testDatabaseUrl() });
  await client.connect();
  try {
    for (const schema of createdSchemas.splice(0)) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
});
