import { describe, expect, it } from "vitest";
import type { TestClock } from "../src/clock.ts";
import { CancelRun, CreateRun, GetRun, TickOnce, WorkerStatusQuery } from "./support/documents.ts";
import { ADMIN, API, runInput, startForge } from "./support/forge.ts";
import { waitFor } from "./support/wait.ts";

const input = runInput;

describe("acceptance", () => {
  it("A: a noop run ticked once is SUCCEEDED with exactly the five events at seq 1..5", async () => {
    const forge = await startForge();
    const created = await forge.gql(CreateRun, { input: input() });
    const id = created.data?.createRun.id as string;
    expect(created.data?.createRun.status).toBe("PENDING");

    const tick = await forge.gql(TickOnce, { limit: 10 });
    expect(tick.data?.tickOnce).toEqual({ ticked: 1, succeeded: 1, failed: 0, skippedLeased: 0, runIds: [id] });

    const run = (await forge.gql(GetRun, { id })).data?.run;
    expect(run?.status).toBe("SUCCEEDED");
    expect(run?.events.map((e) => [e.seq, e.type])).toEqual([
      [1, "run_created"],
      [2, "run_started"],
      [3, "step_started"],
      [4, "step_succeeded"],
      [5, "run_succeeded"],
    ]);
    expect(run?.eventCount).toBe(5);
    expect(run?.lease).toBeNull();
  });

  it("B: concurrent tickOnce calls never advance the same run twice", async () => {
    const forge = await startForge();
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push((await forge.gql(CreateRun, { input: input() })).data?.createRun.id as string);

    const results = await Promise.all(Array.from({ length: 5 }, () => forge.gql(TickOnce, { limit: 20 })));
    const advanced = results.flatMap((r) => r.data?.tickOnce.runIds ?? []);
    expect(advanced.sort()).toEqual([...ids].sort());
    expect(results.reduce((n, r) => n + (r.data?.tickOnce.ticked ?? 0), 0)).toBe(20);

    for (const id of ids) {
      const run = (await forge.gql(GetRun, { id })).data?.run;
      expect(run?.status).toBe("SUCCEEDED");
      expect(run?.events.filter((e) => e.type === "step_started")).toHaveLength(1);
      expect(run?.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    }
  });

  it("B: a ticker whose lease expired and was taken over commits nothing", async () => {
    const forge = await startForge({ env: { FORGE_LEASE_MS: "1000" } });
    const clock = forge.clock as TestClock;
    const id = (await forge.gql(CreateRun, { input: input() })).data?.createRun.id as string;

    const stale = await forge.app.forge.scheduler.claim(10, "stale-ticker");
    expect(stale.claims).toEqual([{ runId: id, epoch: 1 }]);
    const staleWork = await stale.advance(new AbortController().signal);
    expect(staleWork).toHaveLength(1);

    // While the lease is live, another ticker passes the run over.
    const blocked = await forge.gql(TickOnce, { limit: 10 });
    expect(blocked.data?.tickOnce).toMatchObject({ ticked: 0, skippedLeased: 1 });

    clock.advance(1001);
    const takeover = await forge.gql(TickOnce, { limit: 10 });
    expect(takeover.data?.tickOnce).toMatchObject({ ticked: 1, succeeded: 1, runIds: [id] });

    const late = await stale.commit(staleWork);
    expect(late).toMatchObject({ ticked: 0, runIds: [] });

    const run = (await forge.gql(GetRun, { id })).data?.run;
    expect(run?.events.map((e) => e.type)).toEqual(["run_created", "run_started", "step_started", "step_succeeded", "run_succeeded"]);
    const row = await forge.app.forge.db.read.run.findUniqueOrThrow({ where: { id } });
    expect(row.leaseEpoch).toBe(2);
    expect(row.leaseOwner).toBeNull();
  });

  it("C: the worker does not start unless FORGE_WORKER_ENABLED=true", async () => {
    for (const env of [{}, { FORGE_WORKER_ENABLED: "false" }] as Record<string, string>[]) {
      const forge = await startForge({ env });
      expect(forge.app.forge.worker).toBeNull();
      const id = (await forge.gql(CreateRun, { input: input() })).data?.createRun.id as string;
      await forge.app.forge.feed.flush();
      expect((await forge.gql(GetRun, { id })).data?.run?.status).toBe("PENDING");
      expect(await forge.app.forge.db.read.worker.count()).toBe(0);
      const status = (await forge.gql(WorkerStatusQuery)).data?.workerStatus;
      expect(status).toMatchObject({ enabled: false, running: false, workerId: null, ticks: 0, queueDepth: 1 });
    }
  });

  it("C: with FORGE_WORKER_ENABLED=true the worker runs new runs to the end", async () => {
    const forge = await startForge({ env: { FORGE_WORKER_ENABLED: "true" } });
    const id = (await forge.gql(CreateRun, { input: input() })).data?.createRun.id as string;
    await waitFor(async () => (await forge.gql(GetRun, { id })).data?.run?.status === "SUCCEEDED");
    const status = (await forge.gql(WorkerStatusQuery)).data?.workerStatus;
    expect(status?.enabled).toBe(true);
    expect(status?.running).toBe(true);
    expect(status?.workerId).toMatch(/.+/);
    expect(status?.ticks).toBeGreaterThan(0);
  });

  describe("D: admin operations need the admin token", () => {
    const adminOps = [
      { name: "tickOnce", run: (f: Awaited<ReturnType<typeof startForge>>, token: string | null) => f.gql(TickOnce, { limit: 1 }, token) },
      {
        name: "cancelRun",
        run: (f: Awaited<ReturnType<typeof startForge>>, token: string | null) => f.gql(CancelRun, { id: "r1" }, token),
      },
      {
        name: "workerStatus",
        run: (f: Awaited<ReturnType<typeof startForge>>, token: string | null) => f.gql(WorkerStatusQuery, {}, token),
      },
    ];

    for (const op of adminOps) {
      it(`${op.name}: refused with FORBIDDEN and 403 without a token or with a wrong one, accepted with the admin token`, async () => {
        const forge = await startForge();
        await forge.gql(CreateRun, { input: input({ id: "r1" }) });
        for (const token of [null, "wrong-token-xxxx", `${ADMIN}x`]) {
          const refused = await op.run(forge, token);
          expect(refused.status).toBe(403);
          expect(refused.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
          expect(refused.data).toBeNull();
        }
        const accepted = await op.run(forge, ADMIN);
        expect(accepted.status).toBe(200);
        expect(accepted.errors).toBeUndefined();
      });
    }

    it("admin operations are refused for everyone when FORGE_ADMIN_TOKEN is unset", async () => {
      const forge = await startForge({ env: { FORGE_ADMIN_TOKEN: "" } });
      for (const token of [null, ADMIN, ""]) {
        const refused = await forge.gql(TickOnce, { limit: 1 }, token);
        expect(refused.status).toBe(403);
        expect(refused.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
      }
    });

    it("with FORGE_API_TOKEN set, every operation needs it or the admin token", async () => {
      const forge = await startForge({ env: { FORGE_API_TOKEN: API } });
      const refused = await forge.gql(CreateRun, { input: input() }, null);
      expect(refused.status).toBe(403);
      expect(refused.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
      const wrong = await forge.gql(GetRun, { id: "x" }, "not-the-api-token");
      expect(wrong.status).toBe(403);
      expect((await forge.gql(CreateRun, { input: input() }, API)).errors).toBeUndefined();
      expect((await forge.gql(GetRun, { id: "x" }, ADMIN)).errors).toBeUndefined();
      // The API token is not an admin token.
      expect((await forge.gql(TickOnce, { limit: 1 }, API)).status).toBe(403);
    });

    it("with FORGE_API_TOKEN set, a caller without it learns nothing about the schema", async () => {
      const forge = await startForge({ env: { FORGE_API_TOKEN: API } });
      for (const query of ["{ runz }", "{ __schema { types { name } } }", "{ run(id: "]) {
        const refused = await forge.gql(query, {}, null);
        expect(refused.status).toBe(403);
        expect(refused.errors).toEqual([{ message: expect.stringMatching(/token/), extensions: { code: "FORBIDDEN" } }]);
      }
      const page = await forge.app.yoga.fetch("http://forge.test/graphql", { headers: { accept: "text/html" } });
      expect(page.status).toBe(200);
    });
  });

  it("E: tickOnce(limit: 3) over 7 runnable runs advances exactly 3, highest priority then oldest", async () => {
    const forge = await startForge();
    const clock = forge.clock as TestClock;
    const priorities = [0, 5, 0, 5, 10, 0, 5];
    const ids: string[] = [];
    for (const priority of priorities) {
      ids.push((await forge.gql(CreateRun, { input: input({ priority }) })).data?.createRun.id as string);
      clock.advance(1);
    }
    const tick = (await forge.gql(TickOnce, { limit: 3 })).data?.tickOnce;
    expect(tick?.ticked).toBe(3);
    expect(tick?.runIds).toEqual([ids[4], ids[1], ids[3]]);
    const next = (await forge.gql(TickOnce, { limit: 3 })).data?.tickOnce;
    expect(next?.runIds).toEqual([ids[6], ids[0], ids[2]]);
    const last = (await forge.gql(TickOnce, { limit: 3 })).data?.tickOnce;
    expect(last?.runIds).toEqual([ids[5]]);
  });
});
