import { describe, expect, it } from "vitest";
import { claimDueRuns } from "../src/store/leases.ts";
import { CreateRun } from "./support/documents.ts";
import { runInput, startForge } from "./support/forge.ts";

describe("store transactions", () => {
  it("a claim made while another transaction is open neither sees its writes nor rolls back with it", async () => {
    const forge = await startForge();
    const id = (await forge.gql(CreateRun, { input: runInput() })).data?.createRun.id as string;
    const db = forge.app.forge.db;
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const failing = db
      .write(async (tx) => {
        await tx.$executeRaw`UPDATE runs SET priority = 999 WHERE id = ${id}`;
        await gate;
        throw new Error("roll this back");
      })
      .catch((error: Error) => error.message);
    // Let the transaction above start and make its write.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const claim = claimDueRuns(db, { owner: "claimer", now: forge.clock.now(), leaseMs: 30_000, limit: 10 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    release();
    expect(await failing).toBe("roll this back");
    const [claimed] = await claim;
    expect(claimed?.run.priority).toBe(0);
    const row = await db.read.run.findUniqueOrThrow({ where: { id } });
    expect([row.priority, row.leaseOwner, row.leaseEpoch]).toEqual([0, "claimer", 1]);
  });
});
