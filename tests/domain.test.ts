import { describe, expect, it } from "vitest";
import { planCancel } from "../src/domain/cancel.ts";
import { topologicalOrder, validateGraph } from "../src/domain/graph.ts";
import { newRunId } from "../src/domain/ids.ts";
import { canonicalJson } from "../src/domain/run-input.ts";

const rules = { stepTypes: new Set(["noop"]), maxSteps: 1000 };

describe("domain", () => {
  it("topological order puts ready steps by id, and a 1000-step chain validates without recursion", () => {
    const graph = validateGraph(
      {
        steps: {
          d: { type: "noop", deps: ["b", "c"] },
          c: { type: "noop", deps: ["a"] },
          b: { type: "noop", deps: ["a"] },
          a: { type: "noop" },
        },
      },
      rules,
    );
    expect(topologicalOrder(graph)).toEqual(["a", "b", "c", "d"]);
    const steps = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`s${i}`, { type: "noop", deps: i ? [`s${i - 1}`] : [] }]));
    expect(topologicalOrder(validateGraph({ steps }, rules))).toHaveLength(1000);
  });

  it("run ids are UUIDv7: well formed, and later ids sort after earlier ones", () => {
    const first = newRunId(new Date("2026-11-24T00:00:00.000Z"));
    const second = newRunId(new Date("2026-11-24T00:00:00.001Z"));
    expect(first).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(first < second).toBe(true);
    // The first 48 bits are the time in milliseconds.
    expect(Number.parseInt(first.replace("-", "").slice(0, 12), 16)).toBe(Date.parse("2026-11-24T00:00:00.000Z"));
  });

  it("run ids made in the same millisecond sort in the order they were made", () => {
    const at = new Date("2026-11-24T00:00:00.005Z");
    const ids = Array.from({ length: 1000 }, () => newRunId(at));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(1000);
  });

  it("canonical JSON does not depend on key order", () => {
    expect(canonicalJson({ b: 1, a: [{ y: 2, x: 1 }] })).toBe(canonicalJson({ a: [{ x: 1, y: 2 }], b: 1 }));
  });

  it("cancelling plans one step_cancelled per unfinished step, in order, then run_cancelled; a finished run is left alone", () => {
    const now = new Date();
    const step = (id: string, position: number, status: "PENDING" | "SUCCEEDED" | "RUNNING") => ({
      id,
      position,
      status,
      attempts: 0,
      startedAt: null,
      finishedAt: null,
      output: null,
      error: null,
      wakeAt: null,
    });
    const plan = planCancel(
      { status: "RUNNING", startedAt: now },
      [step("b", 1, "PENDING"), step("a", 0, "SUCCEEDED"), step("c", 2, "RUNNING")],
      now,
    );
    expect(plan?.events.map((e) => [e.type, e.stepId])).toEqual([
      ["step_cancelled", "b"],
      ["step_cancelled", "c"],
      ["run_cancelled", null],
    ]);
    expect(planCancel({ status: "FAILED", startedAt: now }, [], now)).toBeNull();
  });
});
