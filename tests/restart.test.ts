import { expect, it } from "vitest";
import { TestClock } from "../src/clock.ts";
import { CreateRun, GetRun, TickOnce } from "./support/documents.ts";
import { chain, freshDbUrl, runInput, startForge } from "./support/forge.ts";

it("runs, steps and event order survive a stop and start on the same file", async () => {
  const dbUrl = freshDbUrl();
  const clock = new TestClock();
  const before = await startForge({ dbUrl, clock, autoStop: false });
  const done = (await before.gql(CreateRun, { input: runInput({ graph: chain(3), priority: 5 }) })).data?.createRun.id as string;
  const pending = (await before.gql(CreateRun, { input: runInput({ graph: chain(2) }) })).data?.createRun.id as string;
  await before.gql(TickOnce, { limit: 1 });
  const snapshot = (await before.gql(GetRun, { id: done })).data?.run;
  const lastIdBefore = (await before.app.forge.db.read.event.count()) as number;
  await before.stop();

  const after = await startForge({ dbUrl, clock });
  expect((await after.gql(GetRun, { id: done })).data?.run).toEqual(snapshot);
  expect((await after.gql(GetRun, { id: pending })).data?.run?.status).toBe("PENDING");

  // The engine carries on where it stopped: seq continues without a gap.
  expect((await after.gql(TickOnce, {})).data?.tickOnce.runIds).toEqual([pending]);
  const resumed = (await after.gql(GetRun, { id: pending })).data?.run;
  expect(resumed?.status).toBe("SUCCEEDED");
  expect(resumed?.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  // Global ids keep growing across the restart.
  const newIds = resumed?.events.slice(1).map((e) => Number(e.id)) ?? [];
  expect(newIds).toEqual(Array.from({ length: 6 }, (_, i) => lastIdBefore + 1 + i));
});
