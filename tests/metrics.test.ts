import { describe, expect, it } from "vitest";
import { TestClock } from "../src/clock.ts";
import { defaultRegistry } from "../src/engine/steps/index.ts";
import type { StepHandler } from "../src/engine/steps/registry.ts";
import { MAX_LABEL_VALUES, OVERFLOW_LABEL } from "../src/ops/metrics.ts";
import { CancelRun, CreateRun, RunEventsSubscription } from "./support/documents.ts";
import { API, runInput, startForge, type TestForge } from "./support/forge.ts";
import { type Family, parsePrometheus, type Sample } from "./support/prometheus.ts";
import { waitFor } from "./support/wait.ts";
import { subscribe, wsClient } from "./support/ws.ts";

/**
 * /metrics scraped over real HTTP and parsed as Prometheus text: every family of the
 * contract's table, with its labels, counted where the thing happens.
 */
async function scrape(origin: string, token?: string): Promise<Map<string, Family>> {
  const response = await fetch(`${origin}/metrics`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheus(await response.text());
}

/** The samples named `name` (a family's, or a histogram's `_count`, `_sum`, `_bucket`) whose labels include `labels`. */
function samples(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): Sample[] {
  const family = families.get(name) ?? families.get(name.replace(/_(bucket|sum|count)$/, ""));
  return (family?.samples ?? []).filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The sum of those samples' values (0 when there are none). */
function value(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  return samples(families, name, labels).reduce((sum, s) => sum + s.value, 0);
}

async function serving(forge: TestForge): Promise<string> {
  return new URL(await forge.app.start()).origin;
}

const slowNoop: StepHandler = { type: "slow", run: () => new Promise((resolve) => setTimeout(() => resolve(null), 20)) };
const flaky: StepHandler = {
  type: "flaky",
  run: (ctx) => {
    if (ctx.attempt === 1) throw new Error("first attempt fails");
    return null;
  },
};
const hang: StepHandler = {
  type: "hang",
  run: (ctx) => new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))),
};

describe("/metrics", () => {
  it("exposes every family of the contract's table, with its type", async () => {
    const forge = await startForge();
    const families = await scrape(await serving(forge));
    const expected: Record<string, string> = {
      forge_runs_created_total: "COUNTER",
      forge_runs_finished_total: "COUNTER",
      forge_step_attempts_total: "COUNTER",
      forge_step_duration_seconds: "HISTOGRAM",
      forge_tick_duration_seconds: "HISTOGRAM",
      forge_tick_runs: "HISTOGRAM",
      forge_queue_depth: "GAUGE",
      forge_queue_oldest_age_seconds: "GAUGE",
      forge_subscribers: "GAUGE",
      forge_event_delivery_seconds: "HISTOGRAM",
      forge_commit_failures_total: "COUNTER",
      forge_lease_lost_total: "COUNTER",
      process_resident_memory_bytes: "GAUGE",
      nodejs_eventloop_lag_seconds: "GAUGE",
    };
    for (const [name, type] of Object.entries(expected))
      expect({ name, type: families.get(name)?.type }).toEqual({ name, type: type.toLowerCase() });
  });

  it("counts runs created and finished by job type and lane, attempts by type and outcome, and ticks", async () => {
    const registry = defaultRegistry([slowNoop, flaky]);
    const forge = await startForge({ registry });
    const origin = await serving(forge);
    for (const lane of ["default", "default", "batch"]) {
      await forge.gql(CreateRun, {
        input: runInput({ lane, graph: { steps: { a: { type: "slow" }, b: { type: "noop", deps: ["a"] } } } }),
      });
    }
    const failing = await forge.gql(CreateRun, {
      input: runInput({
        jobType: "deploy",
        graph: { steps: { f: { type: "fail", params: { message: "no" }, retry: { maxAttempts: 1 } } } },
      }),
    });
    expect(failing.errors).toBeUndefined();
    const retried = await forge.gql(CreateRun, {
      input: runInput({ jobType: "deploy", graph: { steps: { r: { type: "flaky", retry: { maxAttempts: 2, backoffMs: 0 } } } } }),
    });
    expect(retried.errors).toBeUndefined();
    for (let i = 0; i < 3; i++) await forge.app.forge.tickOnce(100);

    const m = await scrape(origin);
    expect(value(m, "forge_runs_created_total", { job_type: "build", lane: "default" })).toBe(2);
    expect(value(m, "forge_runs_created_total", { job_type: "build", lane: "batch" })).toBe(1);
    expect(value(m, "forge_runs_created_total", { job_type: "deploy", lane: "default" })).toBe(2);
    expect(value(m, "forge_runs_finished_total", { job_type: "build", lane: "default", status: "SUCCEEDED" })).toBe(2);
    expect(value(m, "forge_runs_finished_total", { job_type: "build", lane: "batch", status: "SUCCEEDED" })).toBe(1);
    expect(value(m, "forge_runs_finished_total", { job_type: "deploy", status: "FAILED" })).toBe(1);
    expect(value(m, "forge_runs_finished_total", { job_type: "deploy", status: "SUCCEEDED" })).toBe(1);
    expect(value(m, "forge_step_attempts_total", { type: "slow", outcome: "succeeded" })).toBe(3);
    expect(value(m, "forge_step_attempts_total", { type: "noop", outcome: "succeeded" })).toBe(3);
    expect(value(m, "forge_step_attempts_total", { type: "fail", outcome: "failed" })).toBe(1);
    expect(value(m, "forge_step_attempts_total", { type: "flaky", outcome: "retrying" })).toBe(1);
    expect(value(m, "forge_step_attempts_total", { type: "flaky", outcome: "succeeded" })).toBe(1);
    // Handler time: three 20 ms attempts of `slow`, none of them under 20 ms.
    expect(value(m, "forge_step_duration_seconds_count", { type: "slow" })).toBe(3);
    expect(value(m, "forge_step_duration_seconds_sum", { type: "slow" })).toBeGreaterThanOrEqual(0.057);
    expect(value(m, "forge_step_duration_seconds_bucket", { type: "slow", le: "0.01" })).toBe(0);
    // Ticks that claimed something: every run once (the flaky step, without backoff, is tried again in the same tick).
    expect(value(m, "forge_tick_runs_sum")).toBe(5);
    expect(value(m, "forge_tick_duration_seconds_count")).toBe(value(m, "forge_tick_runs_count"));
    // The first tick did it all; the two after it claimed nothing and are not ticks to count.
    expect(value(m, "forge_tick_runs_count")).toBe(1);
  });

  it("counts timed-out and cancelled attempts apart from failures", async () => {
    const clock = new TestClock();
    const forge = await startForge({ clock, registry: defaultRegistry([hang]) });
    const origin = await serving(forge);
    await forge.gql(CreateRun, { input: runInput({ graph: { steps: { t: { type: "hang", timeoutMs: 1000 } } } }) });
    const tick = forge.app.forge.tickOnce(10);
    await waitFor(() => clock.sleeping > 0, "the attempt to wait on its timeout");
    clock.advance(1000);
    await tick;
    const id = (await forge.gql(CreateRun, { input: runInput({ graph: { steps: { c: { type: "hang" } } } }) })).data?.createRun
      .id as string;
    const second = forge.app.forge.tickOnce(10);
    await waitFor(() => forge.app.forge.scheduler.runsInFlight === 1, "the second run to be claimed");
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect((await forge.gql(CancelRun, { id })).data?.cancelRun.status).toBe("CANCELLED");
    await second;
    const m = await scrape(origin);
    expect(value(m, "forge_step_attempts_total", { type: "hang", outcome: "timed_out" })).toBe(1);
    expect(value(m, "forge_step_attempts_total", { type: "hang", outcome: "cancelled" })).toBe(1);
    expect(value(m, "forge_step_attempts_total", { type: "hang", outcome: "failed" })).toBe(0);
    expect(value(m, "forge_runs_finished_total", { status: "CANCELLED" })).toBe(1);
    // The cancelled run's tick found its lease gone at commit.
    expect(value(m, "forge_lease_lost_total")).toBe(1);
  });

  it("shows the queue per lane from the database: runs due and not leased, and the oldest one's age", async () => {
    const clock = new TestClock();
    const forge = await startForge({ clock });
    const origin = await serving(forge);
    await forge.gql(CreateRun, { input: runInput({ lane: "a" }) });
    clock.advance(30_000);
    await forge.gql(CreateRun, { input: runInput({ lane: "a" }) });
    await forge.gql(CreateRun, { input: runInput({ lane: "b" }) });
    clock.advance(5_000);
    let m = await scrape(origin);
    expect(value(m, "forge_queue_depth", { lane: "a" })).toBe(2);
    expect(value(m, "forge_queue_depth", { lane: "b" })).toBe(1);
    expect(value(m, "forge_queue_oldest_age_seconds", { lane: "a" })).toBe(35);
    expect(value(m, "forge_queue_oldest_age_seconds", { lane: "b" })).toBe(5);
    // The same queue through GraphQL, for the dashboard's queue page.
    const status = await forge.gql("{ workerStatus { lanes { lane depth oldestQueuedAt } workers { id } } }");
    expect(status.data?.workerStatus).toEqual({
      lanes: [
        { lane: "a", depth: 2, oldestQueuedAt: "2026-01-01T00:00:00.000Z" },
        { lane: "b", depth: 1, oldestQueuedAt: "2026-01-01T00:00:30.000Z" },
      ],
      workers: [],
    });
    // A leased run is not in the queue.
    const batch = await forge.app.forge.scheduler.claim(1, "ticker:held");
    m = await scrape(origin);
    expect(value(m, "forge_queue_depth", { lane: "a" })).toBe(1);
    await batch.finish(new AbortController().signal);
    await forge.app.forge.tickOnce(10);
    m = await scrape(origin);
    expect(samples(m, "forge_queue_depth")).toEqual([]);
    expect(samples(m, "forge_queue_oldest_age_seconds")).toEqual([]);
  });

  it("counts open subscriptions and the delivery time of live events, from their commit", async () => {
    const pause: StepHandler = { type: "pause", run: () => new Promise((resolve) => setTimeout(() => resolve(null), 400)) };
    const forge = await startForge({ registry: defaultRegistry([pause]) });
    const url = await forge.app.start();
    const origin = new URL(url).origin;
    const id = (await forge.gql(CreateRun, { input: runInput({ graph: { steps: { p: { type: "pause" } } } }) })).data?.createRun
      .id as string;
    const client = wsClient(url);
    const sub = subscribe(client, RunEventsSubscription, { runId: id, afterSeq: 0 });
    await waitFor(async () => value(await scrape(origin), "forge_subscribers") === 1, "the subscription to be counted");
    // run_created is replayed from the store before the run moves.
    await waitFor(() => sub.items.length === 1, "run_created from the store");
    await forge.app.forge.tickOnce(10);
    await sub.done;
    const m = await scrape(origin);
    expect(value(m, "forge_subscribers")).toBe(0);
    // run_started, step_started, step_succeeded, run_succeeded came live; the replayed run_created is not a delivery time.
    expect(value(m, "forge_event_delivery_seconds_count")).toBe(4);
    // run_started and step_started were made 400 ms before their commit (the step ran in between):
    // delivery counts from the commit, not from then.
    expect(value(m, "forge_event_delivery_seconds_bucket", { le: "0.25" })).toBe(4);
  });

  it("keeps client-chosen label values bounded: job types past the limit are counted as one", async () => {
    const forge = await startForge();
    const origin = await serving(forge);
    const inputs = Array.from({ length: MAX_LABEL_VALUES + 20 }, (_, i) => runInput({ jobType: `job-${i}` }));
    for (let i = 0; i < inputs.length; i += 50) await forge.app.forge.createRuns(inputs.slice(i, i + 50));
    const created = samples(await scrape(origin), "forge_runs_created_total");
    expect(created).toHaveLength(MAX_LABEL_VALUES + 1);
    expect(created.find((s) => s.labels.job_type === OVERFLOW_LABEL)?.value).toBe(20);
  });

  it("needs the API token when one is set; the health routes never do", async () => {
    const forge = await startForge({ env: { FORGE_API_TOKEN: API } });
    const origin = await serving(forge);
    expect((await fetch(`${origin}/metrics`)).status).toBe(403);
    expect((await fetch(`${origin}/metrics`, { headers: { authorization: "Bearer wrong-token" } })).status).toBe(403);
    expect((await scrape(origin, API)).has("forge_runs_created_total")).toBe(true);
    expect((await fetch(`${origin}/healthz`)).status).toBe(200);
    expect((await fetch(`${origin}/readyz`)).status).toBe(200);
  });
});
