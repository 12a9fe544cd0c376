import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { TestClock } from "../src/clock.ts";
import { ENGINE_DEFAULTS } from "../src/config.ts";
import type { StoredEvent } from "../src/domain/event.ts";
import {
  canTransitionRun,
  canTransitionStep,
  InvalidTransition,
  RUN_STATUSES,
  type RunStatus,
  runTransition,
  STEP_STATUSES,
  type StepStatus,
  stepTransition,
} from "../src/domain/status.ts";

const COMMIT_BUDGET = ENGINE_DEFAULTS.commitBudget;

import { dialect, runInput, startForge, type TestForge } from "./support/forge.ts";

/**
 * The status machines of domain/status.ts against what the engine does: every move a run
 * or a step makes in its history is one the table allows, and every move the table allows
 * is one the engine makes (so the table holds no dead entry that could hide a bug).
 */

/** The machine as API.md and the comment in domain/status.ts describe it, written out independently of the table. */
const DOCUMENTED_RUN_MOVES = [
  "PENDING>RUNNING",
  "PENDING>FAILED",
  "PENDING>CANCELLED",
  "RUNNING>SUCCEEDED",
  "RUNNING>FAILED",
  "RUNNING>CANCELLED",
];
const DOCUMENTED_STEP_MOVES = [
  "PENDING>RUNNING",
  "PENDING>SKIPPED",
  "PENDING>CANCELLED",
  "RUNNING>SUCCEEDED",
  "RUNNING>FAILED",
  "RUNNING>WAITING",
  "RUNNING>CANCELLED",
  "WAITING>RUNNING",
  "WAITING>SUCCEEDED",
  "WAITING>FAILED",
  "WAITING>CANCELLED",
];

/** A step whose attempt is in flight when its run is cancelled commits nothing: its history goes from PENDING or WAITING to CANCELLED. */
const NOT_IN_HISTORIES = new Set(["RUNNING>CANCELLED"]);

/** What each event says the status became. A resumed wait has no event of its own: WAITING then the outcome. */
const RUN_STATUS_OF: Record<string, RunStatus> = {
  run_created: "PENDING",
  run_started: "RUNNING",
  run_succeeded: "SUCCEEDED",
  run_failed: "FAILED",
  run_cancelled: "CANCELLED",
};
const STEP_STATUS_OF: Record<string, StepStatus> = {
  step_started: "RUNNING",
  step_waiting: "WAITING",
  step_retrying: "WAITING",
  step_succeeded: "SUCCEEDED",
  step_failed: "FAILED",
  step_skipped: "SKIPPED",
  step_cancelled: "CANCELLED",
};

/** The moves a run's history shows, as "FROM>TO" for the run and for its steps. */
function movesOf(events: StoredEvent[]): { run: string[]; step: string[] } {
  const run: string[] = [];
  const step: string[] = [];
  let runStatus: RunStatus | null = null;
  const steps = new Map<string, StepStatus>();
  for (const e of events) {
    const toRun = RUN_STATUS_OF[e.type];
    if (toRun) {
      if (runStatus) run.push(`${runStatus}>${toRun}`);
      runStatus = toRun;
    }
    const toStep = STEP_STATUS_OF[e.type];
    if (toStep && e.stepId) {
      step.push(`${steps.get(e.stepId) ?? "PENDING"}>${toStep}`);
      steps.set(e.stepId, toStep);
    }
  }
  return { run, step };
}

/** Runs that take every path the engine has: success, retries, failure and skips, timers, signals, cancellations, giving up. */
async function everyPath(forge: TestForge, clock: TestClock): Promise<string[]> {
  const f = forge.app.forge;
  const ids: string[] = [];
  const create = async (steps: Record<string, unknown>, id?: string) => {
    const run = await f.createRun(runInput({ id, graph: { steps } }));
    ids.push(run.id);
    return run.id;
  };
  await create({ a: { type: "noop" }, b: { type: "noop", deps: ["a"] } });
  await create({ flaky: { type: "fail", params: { times: 1 }, retry: { maxAttempts: 2, backoffMs: 10 } } });
  await create({ bad: { type: "fail" }, after: { type: "noop", deps: ["bad"] }, side: { type: "noop" } });
  await create({ nap: { type: "sleep", params: { ms: 10 } } });
  await create({ gate: { type: "approval" } });
  const toCancelWaiting = await create({ nap: { type: "sleep", params: { ms: 60_000 } }, next: { type: "noop", deps: ["nap"] } });
  const toCancelPending = await create({ a: { type: "noop" } });
  await f.cancelRun(toCancelPending);
  await f.tickOnce(100);
  await f.signalRun(ids[4] as string, "gate", { ok: true });
  await f.cancelRun(toCancelWaiting);
  // A run whose changes the database refuses until it is given up on, with a step waiting: WAITING -> FAILED.
  const stuck = await create({ w: { type: "sleep", params: { ms: 5 } } }, "stuck");
  await f.tickOnce(100);
  await refuseCommitsOf(forge, "stuck");
  for (let i = 0; i < COMMIT_BUDGET; i++) {
    clock.advance(60_000);
    await f.tickOnce(100);
  }
  // And one refused from its very first tick: PENDING -> FAILED.
  await create({ a: { type: "noop" } }, "stuck-early");
  await refuseCommitsOf(forge, "stuck-early");
  for (let i = 0; i < COMMIT_BUDGET; i++) {
    clock.advance(60_000);
    await f.tickOnce(100);
  }
  expect(await f.getRun(stuck)).toMatchObject({ status: "FAILED" });
  return ids;
}

/** Refuses every update of the run's row that starts or finishes it (a test trigger), so only giving up can end it. */
async function refuseCommitsOf(forge: TestForge, runId: string): Promise<void> {
  const name = `refuse_${runId.replace(/\W/g, "_")}`;
  await forge.app.forge.db.write(async (tx) => {
    if (dialect === "sqlite") {
      await tx.$executeRawUnsafe(`CREATE TRIGGER ${name} BEFORE UPDATE OF seq ON runs
        WHEN NEW.id = '${runId}' AND NEW.status IN ('RUNNING', 'SUCCEEDED') BEGIN SELECT RAISE(ABORT, 'refused'); END`);
    } else {
      await tx.$executeRawUnsafe(
        `CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$`,
      );
      await tx.$executeRawUnsafe(`CREATE TRIGGER ${name} BEFORE UPDATE OF seq ON runs FOR EACH ROW
        WHEN (NEW.id = '${runId}' AND NEW.status IN ('RUNNING', 'SUCCEEDED')) EXECUTE FUNCTION ${name}()`);
    }
  });
}

describe("status machines", () => {
  it("the table allows exactly the documented moves, and refuses every other one by name", () => {
    for (const from of RUN_STATUSES) {
      for (const to of RUN_STATUSES) {
        const documented = DOCUMENTED_RUN_MOVES.includes(`${from}>${to}`);
        expect({ move: `${from}>${to}`, allowed: canTransitionRun(from, to) }).toEqual({ move: `${from}>${to}`, allowed: documented });
        if (!documented) expect(() => runTransition('run "r"', from, to)).toThrow(new InvalidTransition('run "r"', from, to));
      }
    }
    for (const from of STEP_STATUSES) {
      for (const to of STEP_STATUSES) {
        const documented = DOCUMENTED_STEP_MOVES.includes(`${from}>${to}`);
        expect({ move: `${from}>${to}`, allowed: canTransitionStep(from, to) }).toEqual({ move: `${from}>${to}`, allowed: documented });
        if (!documented) expect(() => stepTransition('step "s"', from, to)).toThrow(InvalidTransition);
      }
    }
  });

  it("every move in the engine's histories is allowed, and every allowed move appears in them", async () => {
    const clock = new TestClock();
    const forge = await startForge({ clock });
    const ids = await everyPath(forge, clock);
    for (let i = 0; i < 3; i++) {
      clock.advance(60_000);
      await forge.app.forge.tickOnce(100);
    }
    const seen = { run: new Set<string>(), step: new Set<string>() };
    for (const id of ids) {
      const moves = movesOf(await forge.app.forge.runEvents(id, 0, 1000));
      for (const move of moves.run) {
        const [from, to] = move.split(">") as [RunStatus, RunStatus];
        expect({ run: id, move, allowed: canTransitionRun(from, to) }).toEqual({ run: id, move, allowed: true });
        seen.run.add(move);
      }
      for (const move of moves.step) {
        const [from, to] = move.split(">") as [StepStatus, StepStatus];
        expect({ run: id, move, allowed: canTransitionStep(from, to) }).toEqual({ run: id, move, allowed: true });
        seen.step.add(move);
      }
    }
    expect([...seen.run].sort()).toEqual([...DOCUMENTED_RUN_MOVES].sort());
    expect([...seen.step].sort()).toEqual(DOCUMENTED_STEP_MOVES.filter((m) => !NOT_IN_HISTORIES.has(m)).sort());
  });

  it("no engine, domain or store code sets a status but through the machine (the only literal ones are new runs' and steps' PENDING)", () => {
    // A move written as a plain assignment would skip the check at run time, and no history
    // test would notice while the engine is right: so the code itself is read. What counts as
    // setting a status: `.status =`, or a `status:` property given a status literal.
    const statuses = [...RUN_STATUSES, ...STEP_STATUSES].join("|");
    // (SQL in the store compares statuses with single-quoted literals: `s.status = 'PENDING'`.)
    const sets = new RegExp(`\\.status\\s*=(?!=)(?!\\s*')|\\bstatus:\\s*"(${statuses})"`);
    const allowed = [
      // The two helpers every tick move goes through.
      { file: "engine/tick.ts", line: /runState\.status = runTransition\(/ },
      { file: "engine/tick.ts", line: /step\.status = stepTransition\(/ },
      // A new run and its steps start PENDING: a state, not a move.
      { file: "engine/forge.ts", line: /status: "PENDING"/ },
      // A filter of the runs listing, not a change.
      { file: "store/runs.ts", line: /where\.status = filter\.status/ },
      // A re-run's steps start PENDING, or SUCCEEDED when reused from the original: states, not moves.
      { file: "engine/lifecycle.ts", line: /status: "(PENDING|SUCCEEDED)" as const/ },
      { file: "store/sql/rerun.ts", line: /status: "PENDING" \| "SUCCEEDED";/ },
      // The bulk actions' filter, not a change.
      { file: "domain/run-filter.ts", line: /filter\.status = \[/ },
    ];
    const root = new URL("../src/", import.meta.url).pathname;
    const found: string[] = [];
    for (const dir of ["engine", "domain", "store"]) {
      for (const name of readdirSync(join(root, dir), { recursive: true }) as string[]) {
        if (!name.endsWith(".ts") || name.startsWith("generated")) continue;
        const file = `${dir}/${name}`;
        if (file === "domain/status.ts") continue;
        readFileSync(join(root, file), "utf8")
          .split("\n")
          .forEach((line, i) => {
            if (!sets.test(line) || allowed.some((a) => a.file === file && a.line.test(line))) return;
            found.push(`${file}:${i + 1}: ${line.trim()}`);
          });
      }
    }
    expect(found).toEqual([]);
  });
});
