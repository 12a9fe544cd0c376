import { Db } from "../src/store/db.ts";
import { fmt, freshDbFile, printTable, startEngine } from "./support.ts";

/**
 * One poison run in a queue (API.md, "Nothing stuck"): a run whose changes the database
 * refuses (made real with a trigger), created first so that it heads every batch, among
 * noop runs drained by ticks of 100. The bound is the same queue without it, in the same
 * run. Before the commit pipeline (engine/commit.ts), such a run failed every batch it was
 * in and sent the whole batch to one commit per run, on every tick.
 */
const RUNS = 2000;

async function drain(url: string, poisoned: boolean): Promise<{ ms: number; commits: number }> {
  const db = await Db.open({ url });
  const forge = await startEngine(db);
  const input = { mode: "LIVE" as const, jobType: "bench", requestedBy: "bench", graph: { steps: { s: { type: "noop" } } } };
  await forge.createRun({ ...input, id: "poison" });
  for (let i = 1; i < RUNS; i += 100) await forge.createRuns(Array.from({ length: Math.min(100, RUNS - i) }, () => input));
  if (poisoned) await refuse(db);
  const commits = db.commits;
  const start = performance.now();
  const healthy = poisoned ? RUNS - 1 : RUNS;
  let done = 0;
  while (done < healthy) {
    const tick = await forge.tickOnce(100);
    done += tick.succeeded;
    if (tick.ticked === 0 && done < healthy) throw new Error("the queue stopped draining");
  }
  const result = { ms: performance.now() - start, commits: db.commits - commits };
  await forge.stop();
  await db.close();
  return result;
}

/** A trigger that refuses the poison run's step updates (its claim, which only touches the run row, still goes through). */
async function refuse(db: Db): Promise<void> {
  await db.write(async (tx) => {
    if (db.dialect === "sqlite") {
      await tx.$executeRawUnsafe(`CREATE TRIGGER poison BEFORE UPDATE ON steps WHEN NEW.run_id = 'poison' AND NEW.status = 'SUCCEEDED'
        BEGIN SELECT RAISE(ABORT, 'refused'); END`);
      return;
    }
    await tx.$executeRawUnsafe("CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$");
    await tx.$executeRawUnsafe(`CREATE TRIGGER poison BEFORE UPDATE ON steps FOR EACH ROW
      WHEN (NEW.run_id = 'poison' AND NEW.status = 'SUCCEEDED') EXECUTE FUNCTION poison()`);
  });
}

export async function benchPoison(o: { label: string; url: () => string }): Promise<void> {
  const clean = await drain(o.url(), false);
  const poisoned = await drain(o.url(), true);
  printTable(
    `One poison run among ${fmt(RUNS)} noop runs (${o.label}): time to drain the healthy ones, ticks of 100`,
    ["queue", "drain ms", "commits", "drain / clean"],
    [
      ["clean (bound)", fmt(clean.ms), fmt(clean.commits), "1.00"],
      ["one poison run at the head", fmt(poisoned.ms), fmt(poisoned.commits), fmt(poisoned.ms / clean.ms, 2)],
    ],
  );
}

export const sqliteUrl = () => `file:${freshDbFile()}`;
