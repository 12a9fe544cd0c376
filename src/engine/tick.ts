import type { Clock } from "../clock.ts";
import { type RunChange, type StepUpdate, stepUpdate } from "../domain/change.ts";
import type { NewEvent } from "../domain/event.ts";
import { isTerminalStep, type StepStatus } from "../domain/status.ts";
import type { RunRecord, StepRecord } from "../store/records.ts";
import type { StepRegistry } from "./steps/registry.ts";

/**
 * Advancing one run, in memory, under a lease the caller holds. Nothing here touches the
 * database: the result is a RunChange the scheduler commits (fenced by the lease) together
 * with other runs' changes. A run goes as far as it can without waiting: steps whose deps
 * have all succeeded run (concurrently, wave by wave) until none is left or the step
 * budget is spent, so an all-noop graph of any depth finishes in one tick.
 */
export interface TickContext {
  clock: Clock;
  registry: StepRegistry;
  owner: string;
  epoch: number;
  /** Most step attempts one tick makes for one run; the rest waits for the next tick. */
  stepBudget: number;
  signal: AbortSignal;
}

export type TickOutcome = "succeeded" | "failed" | "progressed";

export interface AdvancedRun {
  change: RunChange;
  outcome: TickOutcome;
}

type MutableStep = StepUpdate & { deps: string[]; type: string; position: number; changed: boolean };

export async function advanceRun(run: RunRecord, stepRows: StepRecord[], ctx: TickContext): Promise<AdvancedRun> {
  const events: NewEvent[] = [];
  const emit = (type: NewEvent["type"], stepId: string | null, data: unknown = null) =>
    events.push({ type, stepId, data, createdAt: ctx.clock.now() });
  const steps = new Map<string, MutableStep>(stepRows.map((s) => [s.id, { ...s, changed: false }]));
  const ordered = [...steps.values()].sort((a, b) => a.position - b.position);
  const runState = { status: run.status, startedAt: run.startedAt, finishedAt: run.finishedAt };

  if (runState.status === "PENDING") {
    runState.status = "RUNNING";
    runState.startedAt = ctx.clock.now();
    emit("run_started", null);
  }

  // Deps not yet succeeded, per step, and who waits on whom: each wave costs only the
  // edges of the steps it finished, so a dense 1,000-step graph ticks in linear time.
  const unmet = new Map<string, number>();
  const dependents = new Map<string, MutableStep[]>();
  for (const step of ordered) {
    unmet.set(step.id, step.deps.filter((d) => steps.get(d)?.status !== "SUCCEEDED").length);
    for (const dep of step.deps) {
      const list = dependents.get(dep);
      if (list) list.push(step);
      else dependents.set(dep, [step]);
    }
  }
  let ready = ordered.filter((s) => s.status === "PENDING" && unmet.get(s.id) === 0);

  let budget = ctx.stepBudget;
  while (budget > 0 && ready.length > 0 && !ctx.signal.aborted) {
    const wave = ready.slice(0, budget);
    budget -= wave.length;
    for (const step of wave) {
      step.status = "RUNNING";
      step.attempts += 1;
      step.startedAt = ctx.clock.now();
      step.changed = true;
      emit("step_started", step.id, { attempt: step.attempts });
    }
    const results = await Promise.allSettled(wave.map((step) => runHandler(run, step, steps, ctx)));
    const unlocked: MutableStep[] = [];
    results.forEach((result, i) => {
      const step = wave[i] as MutableStep;
      step.finishedAt = ctx.clock.now();
      if (result.status === "fulfilled") {
        step.status = "SUCCEEDED";
        step.output = result.value ?? null;
        emit("step_succeeded", step.id, { attempt: step.attempts });
        for (const next of dependents.get(step.id) ?? []) {
          const left = (unmet.get(next.id) as number) - 1;
          unmet.set(next.id, left);
          if (left === 0 && next.status === "PENDING") unlocked.push(next);
        }
      } else {
        step.status = "FAILED";
        step.error = errorMessage(result.reason);
        emit("step_failed", step.id, { attempt: step.attempts, error: step.error });
      }
    });
    // What the budget cut off stays first in line; then the newly ready, in step order.
    ready = [...ready.slice(wave.length), ...unlocked.sort((a, b) => a.position - b.position)];
  }

  // A step that failed for good takes every step that depends on it, directly or not, with it.
  for (const step of ordered) {
    if (step.status === "PENDING" && step.deps.some((d) => isFailedOrSkipped(steps.get(d)?.status))) {
      step.status = "SKIPPED";
      step.finishedAt = ctx.clock.now();
      step.changed = true;
      emit("step_skipped", step.id, { reason: "a dependency did not succeed" });
    }
  }

  let outcome: TickOutcome = "progressed";
  let wakeAt: Date | null = run.wakeAt;
  if (ordered.every((s) => isTerminalStep(s.status))) {
    const failed = ordered.filter((s) => s.status === "FAILED").map((s) => s.id);
    runState.finishedAt = ctx.clock.now();
    wakeAt = null;
    if (failed.length > 0) {
      runState.status = "FAILED";
      outcome = "failed";
      emit("run_failed", null, { failedSteps: failed });
    } else {
      runState.status = "SUCCEEDED";
      outcome = "succeeded";
      emit("run_succeeded", null);
    }
  } else {
    // Work left (the budget ran out, or the tick was asked to stop): pick it up again at once.
    wakeAt = ctx.clock.now();
  }

  return {
    outcome,
    change: {
      runId: run.id,
      owner: ctx.owner,
      epoch: ctx.epoch,
      baseSeq: run.seq,
      run: { ...runState, updatedAt: ctx.clock.now(), wakeAt },
      steps: ordered.filter((s) => s.changed).map(stepUpdate),
      events,
    },
  };
}

function isFailedOrSkipped(status: StepStatus | undefined): boolean {
  return status === "FAILED" || status === "SKIPPED";
}

async function runHandler(run: RunRecord, step: MutableStep, steps: Map<string, MutableStep>, ctx: TickContext): Promise<unknown> {
  const handler = ctx.registry.get(step.type);
  if (!handler) throw new Error(`step type "${step.type}" is not registered in this process`);
  const depOutputs: Record<string, unknown> = {};
  for (const dep of step.deps) depOutputs[dep] = steps.get(dep)?.output ?? null;
  const output = await handler.run({
    runId: run.id,
    stepId: step.id,
    mode: run.mode,
    params: run.graph.steps[step.id]?.params ?? {},
    runParams: run.params,
    depOutputs,
    attempt: step.attempts,
    signal: ctx.signal,
  });
  // The output is stored as JSON; one that cannot be fails the attempt here, with a reason,
  // instead of failing the whole tick's commit on every later tick.
  try {
    JSON.stringify(output);
  } catch (error) {
    throw new Error(`step output is not JSON-serializable: ${errorMessage(error)}`);
  }
  return output;
}

function errorMessage(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}
