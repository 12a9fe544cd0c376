import pg from "pg";
import { afterAll, beforeAll } from "vitest";
import { createdSchemas, openApps, testDatabaseUrl } from "./forge.ts";

/** Listening servers, and process-wide signal and error handlers, when the file started. */
let before: { servers: number; listeners: number } = { servers: 0, listeners: 0 };
const PROCESS_EVENTS = ["SIGTERM", "SIGINT", "uncaughtException", "unhandledRejection"] as const;
const servers = () => process.getActiveResourcesInfo().filter((r) => r === "TCPServerWrap").length;
const processListeners = () => PROCESS_EVENTS.reduce((n, e) => n + process.listenerCount(e), 0);

beforeAll(() => {
  before = { servers: servers(), listeners: processListeners() };
});

afterAll(async () => {
  // Leak guard: every app a test file starts must be stopped by the end of the file, and so
  // must every server it listened on (HTTP, WebSocket) and every process handler it added.
  // (Leases and followers of each app are checked when it stops: tests/support/forge.ts.)
  if (openApps.size > 0) throw new Error(`${openApps.size} Forge app(s) left running by this test file`);
  // A closed server's handle is released by the event loop a turn or two after close() returns.
  for (let turn = 0; turn < 20 && servers() > before.servers; turn++) await new Promise((resolve) => setTimeout(resolve, 5));
  const leaked = servers() - before.servers;
  if (leaked > 0) throw new Error(`${leaked} listening server(s) left open by this test file`);
  const handlers = processListeners() - before.listeners;
  if (handlers > 0) throw new Error(`${handlers} process signal or error handler(s) left behind by this test file`);
  if (createdSchemas.length === 0) return;
  const client = new pg.Client({ connectionString: testDatabaseUrl() });
  await client.connect();
  try {
    for (const schema of createdSchemas.splice(0)) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
});
