import { describe, expect, it, onTestFinished } from "vitest";
import { systemClock } from "../src/clock.ts";
import { CreateRun } from "./support/documents.ts";
import { dialect, runInput, startForge } from "./support/forge.ts";
import { startPrivatePostgres } from "./support/private-postgres.ts";
import { waitFor } from "./support/wait.ts";

describe.runIf(dialect === "postgres")("a PostgreSQL restart under load", () => {
  it("is survived without restarting Forge: clear errors meanwhile, then reconnection, and no acknowledged write lost", async () => {
    const server = await startPrivatePostgres();
    onTestFinished(() => server.stop());
    const forge = await startForge({
      dbUrl: server.url,
      clock: systemClock,
      env: { FORGE_WORKER_ENABLED: "true", FORGE_TICK_INTERVAL_MS: "50", FORGE_PG_CONNECT_TIMEOUT_MS: "1000" },
    });

    const acknowledged: string[] = [];
    const refusals: Array<{ code: string | undefined; message: string }> = [];
    let loading = true;
    const clients = Array.from({ length: 4 }, async () => {
      while (loading) {
        const { data, errors } = await forge.gql(CreateRun, { input: runInput() });
        if (data?.createRun) acknowledged.push(data.createRun.id);
        else refusals.push({ code: errors?.[0]?.extensions?.code, message: errors?.[0]?.message ?? "" });
        if (!data) await new Promise((resolve) => setTimeout(resolve, 20));
      }
    });
    await waitFor(() => acknowledged.length >= 50, "load before the restart", 20_000);
    await server.restart(); // the clients keep writing while the server is down
    const afterRestart = acknowledged.length;
    await waitFor(() => acknowledged.length >= afterRestart + 50, "writes acknowledged again after the restart", 30_000);
    loading = false;
    await Promise.all(clients);

    // The restart did interrupt the load, and every refusal said what was wrong (none was
    // an opaque internal error).
    expect(refusals.length).toBeGreaterThan(0);
    for (const refusal of refusals) expect(refusal).toEqual({ code: "SERVICE_UNAVAILABLE", message: expect.stringMatching(/database/) });
    // Every acknowledged run is stored, and the worker, which kept running, finishes them all.
    const db = forge.app.forge.db.read;
    expect(await db.run.count({ where: { id: { in: acknowledged } } })).toBe(acknowledged.length);
    await waitFor(
      async () => (await db.run.count({ where: { status: { not: "SUCCEEDED" } } })) === 0,
      "the worker to finish every run",
      30_000,
    );
    expect(await db.run.count()).toBeGreaterThanOrEqual(acknowledged.length);
  }, 90_000);
});
