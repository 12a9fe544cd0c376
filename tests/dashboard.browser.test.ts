import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Locator, Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { TestClock } from "../src/clock.ts";
import { DASHBOARD_DIST } from "../src/ops/dashboard.ts";
import { registerWorker } from "../src/store/workers.ts";
import { browserSkipReason, offline, useChromium } from "./support/browser.ts";
import { ADMIN, API, chain, dialect, runInput, startForge, type TestForge } from "./support/forge.ts";

// The dashboard at GET /, in a real Chromium, against a real Forge on a real port, with
// nothing reachable but Forge itself: every request for another origin is aborted and
// recorded, as it would fail without internet access. Runs on both databases (the page
// shows what the API answers, and the API's answers come from the database).

const STEP_MS = 15_000;
const TEST_MS = 90_000;

const CREATE_RUN = "mutation($input: CreateRunInput!) { createRun(input: $input) { id } }";
const CREATE_RUNS = "mutation($inputs: [CreateRunInput!]!) { createRuns(inputs: $inputs) { id } }";
const TICK = "mutation { tickOnce(limit: 100) { ticked } }";
const SIGNAL =
  "mutation($runId: ID!, $stepId: String!, $payload: JSON) { signalRun(runId: $runId, stepId: $stepId, payload: $payload) { id } }";

/** `FORGE_SCREENSHOTS=1` saves a PNG of each page for the README (SQLite project only). */
const SCREENSHOTS = process.env.FORGE_SCREENSHOTS === "1" && dialect === "sqlite";

/** A pipeline with a fan-out, a fan-in, an artifact and an approval gate. */
const PIPELINE = {
  steps: {
    checkout: { type: "noop" },
    lint: { type: "noop", deps: ["checkout"] },
    unit: { type: "noop", deps: ["checkout"] },
    e2e: { type: "noop", deps: ["checkout"] },
    report: { type: "artifact", deps: ["lint", "unit", "e2e"], params: { name: "report.txt", content: "all 412 tests passed" } },
    approve: { type: "approval", deps: ["report"], params: { prompt: "ship it?" } },
    ship: { type: "noop", deps: ["approve"] },
    announce: { type: "noop", deps: ["ship"] },
  },
};

interface Dashboard {
  page: Page;
  forge: TestForge;
  origin: string;
  /** URLs the page asked for on another origin (HTTP and WebSocket), all aborted. */
  foreign: string[];
  /** Uncaught page errors and console errors, in order. */
  errors: string[];
}

/**
 * Starts a Forge on a real port and opens the dashboard at `path`.
 * `watchWebSockets`: foreign WebSockets are recorded as they open (page "websocket" events)
 * instead of being routed. Playwright relays every message of every socket through the test
 * process once a WebSocket route exists, whatever its URL filter; a run of 1,000 steps sends
 * thousands of events, and the relay, not the page, would then be what is measured.
 */
async function openDashboard(
  newPage: () => Promise<Page>,
  options: { env?: Record<string, string>; path?: string; watchWebSockets?: boolean } = {},
): Promise<Dashboard> {
  if (!existsSync(join(DASHBOARD_DIST, "index.html"))) throw new Error("the dashboard is not built: run npm run build:dashboard");
  // A test clock set to now: the page measures how long a running run has run against its own clock.
  const forge = await startForge({ env: options.env, clock: new TestClock(new Date()) });
  const url = await forge.app.start();
  const origin = new URL(url).origin;
  const page = await newPage();
  const { foreign, errors } = await offline(page, origin, { watchWebSockets: options.watchWebSockets });
  await page.goto(`${origin}${options.path ?? "/"}`);
  return { page, forge, origin, foreign, errors };
}

/**
 * Nothing left the machine, nothing went wrong in the page; then the page is closed (its
 * subscriptions end). `refusals` counts the 403s the test provoked on purpose: Chromium
 * reports each refused load as a console error of its own, which is not the page's.
 */
async function finish(dashboard: Dashboard, refusals = 0): Promise<void> {
  expect(dashboard.foreign).toEqual([]);
  const refused = "console error: Failed to load resource: the server responded with a status of 403 (Forbidden)";
  expect(dashboard.errors.filter((e) => e === refused)).toHaveLength(refusals);
  expect(dashboard.errors.filter((e) => e !== refused)).toEqual([]);
  await dashboard.page.context().close();
}

/** Marks the document, so that a later check can tell the page was not reloaded. */
async function markDocument(page: Page): Promise<void> {
  await page.evaluate(() => {
    (window as unknown as { forgeMark: boolean }).forgeMark = true;
  });
}
const stillSameDocument = (page: Page) => page.evaluate(() => (window as unknown as { forgeMark?: boolean }).forgeMark === true);

async function useToken(page: Page, token: string): Promise<void> {
  const forget = page.getByRole("button", { name: "Forget token" });
  if (await forget.isVisible()) await forget.click();
  await page.locator('input[name="token"]').fill(token);
  await page.getByRole("button", { name: "Use token" }).click();
  await forget.waitFor({ timeout: STEP_MS });
}

// playwright-core has no assertions of its own: these poll the page through vitest's expect.poll.
const POLL = { timeout: STEP_MS, interval: 20 };
const textOf = async (locator: Locator) => (await locator.textContent({ timeout: 500 }).catch(() => null)) ?? "";
const attributeOf = (locator: Locator, name: string) => locator.getAttribute(name, { timeout: 500 }).catch(() => null);
const hasAttribute = (locator: Locator, name: string, value: string, timeout = STEP_MS) =>
  expect.poll(() => attributeOf(locator, name), { ...POLL, timeout }).toBe(value);
const containsText = (locator: Locator, text: string) => expect.poll(() => textOf(locator), POLL).toContain(text);
const hasText = (locator: Locator, text: string) => expect.poll(() => textOf(locator), POLL).toBe(text);
const hasCount = (locator: Locator, count: number, timeout = STEP_MS) =>
  expect.poll(() => locator.count(), { ...POLL, timeout }).toBe(count);
const isDisabled = (locator: Locator) => expect.poll(() => locator.isDisabled({ timeout: 500 }).catch(() => null), POLL).toBe(true);
const visible = (locator: Locator) => locator.waitFor({ state: "visible", timeout: STEP_MS });

const row = (page: Page, runId: string) => page.locator(`tr[data-run-id="${runId}"]`);
const node = (page: Page, stepId: string) => page.locator(`g.node[data-step="${stepId}"]`);
const expectStatus = (locator: Locator, status: string) => hasAttribute(locator, "data-status", status);

async function createRun(forge: TestForge, input: Parameters<typeof runInput>[0] = {}): Promise<string> {
  // Runs are listed newest first by createdAt: each one a millisecond after the one before.
  (forge.clock as TestClock).advance(1);
  const created = await forge.gql(CREATE_RUN, { input: runInput(input) });
  expect(created.errors).toBeUndefined();
  return created.data.createRun.id as string;
}

/** Waits for the page to move from run `from` to another run's page, and returns that run's id. */
async function newRunOpened(page: Page, from: string): Promise<string> {
  const runPath = () => new URL(page.url()).pathname;
  await expect.poll(() => runPath().startsWith("/runs/") && runPath() !== `/runs/${from}`, POLL).toBe(true);
  const id = decodeURIComponent(runPath().slice("/runs/".length));
  await hasText(page.locator("section.run h1 .mono"), id);
  return id;
}

async function screenshot(page: Page, name: string): Promise<void> {
  if (SCREENSHOTS) await page.screenshot({ path: `docs/screenshots/${name}.png`, fullPage: false });
}

describe("the dashboard in Chromium, offline", () => {
  if (browserSkipReason) {
    it.skip(`skipped: ${browserSkipReason}`, () => {});
    return;
  }
  const chromium = useChromium();
  const newPage = () => chromium.page({ viewport: { width: 1440, height: 900 } });

  it(
    "the runs list shows a run created through the API without a reload, and its status changes as it is ticked",
    async () => {
      const dashboard = await openDashboard(newPage);
      const { page, forge } = dashboard;
      const earlier = await createRun(forge, { jobType: "nightly", lane: "batch", requestedBy: "cron" });
      await row(page, earlier).waitFor({ timeout: STEP_MS });
      await markDocument(page);
      // The page subscribes to `events` once it shows the list; a run created from now on must appear.
      await expect.poll(() => forge.app.forge.feed.listenerCount, { timeout: STEP_MS }).toBeGreaterThan(0);

      const id = await createRun(forge, { jobType: "deploy", lane: "prod", requestedBy: "alice" });
      const fresh = row(page, id);
      await containsText(fresh, "PENDING");
      await containsText(fresh, "deploy");
      await containsText(fresh, "prod");
      await containsText(fresh, "alice");
      // Newest first: the new run is the first row.
      await hasAttribute(page.locator("tbody tr").first(), "data-run-id", id);

      expect((await forge.gql(TICK)).data.tickOnce.ticked).toBe(2);
      await containsText(fresh, "SUCCEEDED");
      await containsText(row(page, earlier), "SUCCEEDED");
      expect(await stillSameDocument(page)).toBe(true);

      if (SCREENSHOTS) {
        for (const [jobType, lane, who] of [
          ["build", "default", "ci"],
          ["release", "prod", "bob"],
          ["nightly", "batch", "cron"],
        ] as const) {
          await createRun(forge, { jobType, lane, requestedBy: who, graph: PIPELINE });
        }
        await forge.gql(TICK);
        await createRun(forge, { jobType: "docs", requestedBy: "carol" });
        await createRun(forge, {
          jobType: "flaky",
          requestedBy: "dave",
          graph: { steps: { f: { type: "fail", params: { message: "exit 1" } } } },
        });
        await forge.gql(TICK);
        await createRun(forge, { jobType: "build", requestedBy: "erin" });
        await hasCount(page.locator("tbody tr"), 8);
        await screenshot(page, "runs");
      }
      await finish(dashboard);
    },
    TEST_MS,
  );

  it(
    "the runs list filters by status, job type and lane from the URL and pages by cursor, older and back",
    async () => {
      const dashboard = await openDashboard(newPage);
      const { page, forge } = dashboard;
      const inputs = Array.from({ length: 120 }, (_, i) =>
        runInput({ id: `r${String(i).padStart(3, "0")}`, jobType: i % 2 ? "deploy" : "build", lane: i % 3 ? "default" : "slow" }),
      );
      expect((await forge.gql(CREATE_RUNS, { inputs })).errors).toBeUndefined();
      await page.reload();
      const rows = page.locator("tbody tr");
      await hasCount(rows, 50);
      const firstPage = await rows.first().getAttribute("data-run-id");

      await page.getByRole("button", { name: "Older →" }).click();
      // The first page stays on screen until the second one is read: its first row is the sign it was.
      await expect.poll(() => attributeOf(rows.first(), "data-run-id"), POLL).not.toBe(firstPage);
      await hasCount(rows, 50);
      const secondPage = await rows.first().getAttribute("data-run-id");
      expect(page.url()).toContain("after=");
      await page.getByRole("button", { name: "Older →" }).click();
      await hasCount(rows, 20);
      await isDisabled(page.getByRole("button", { name: "Older →" }));
      // Back one page: the second page again, from the cursor kept in the URL.
      await page.getByRole("button", { name: "← Newer" }).click();
      await hasAttribute(rows.first(), "data-run-id", secondPage as string);
      await page.getByRole("button", { name: "← Newer" }).click();
      await hasAttribute(rows.first(), "data-run-id", firstPage as string);
      await isDisabled(page.getByRole("button", { name: "← Newer" }));

      // Filters live in the URL, so a filtered view is a link.
      await page.goto(`${dashboard.origin}/?jobType=deploy&lane=slow`);
      await hasCount(rows, 20);
      for (const text of await rows.allInnerTexts()) {
        expect(text).toContain("deploy");
        expect(text).toContain("slow");
      }
      await page.locator('select[name="status"]').selectOption("SUCCEEDED");
      await visible(page.getByText("No runs match."));
      expect(new URL(page.url()).searchParams.get("status")).toBe("SUCCEEDED");
      await page.locator('select[name="status"]').selectOption("PENDING");
      await hasCount(rows, 20);
      await finish(dashboard);
    },
    TEST_MS,
  );

  it(
    "a run page draws the graph and follows the run to its end without a reload: step colours, timeline, output, artifact, event log; a reload shows the same",
    async () => {
      const dashboard = await openDashboard(newPage);
      const { page, forge } = dashboard;
      const id = await createRun(forge, { jobType: "release", requestedBy: "alice", graph: PIPELINE });
      await page.goto(`${dashboard.origin}/runs/${id}`);
      await hasAttribute(page.locator("svg[data-steps]"), "data-steps", "8");
      for (const stepId of Object.keys(PIPELINE.steps)) await expectStatus(node(page, stepId), "PENDING");
      await markDocument(page);

      expect((await forge.gql(TICK)).data.tickOnce.ticked).toBe(1);
      await expectStatus(node(page, "report"), "SUCCEEDED");
      await expectStatus(node(page, "approve"), "WAITING");
      await expectStatus(node(page, "ship"), "PENDING");
      await hasAttribute(page.locator("section.run"), "data-run-status", "RUNNING");
      // The timeline has a bar for every step that started.
      await hasCount(page.locator(".timeline .bar-row"), 6);
      await node(page, "report").click();
      const panel = page.locator('[data-step-panel="report"]');
      await visible(panel.locator('[data-artifact="report.txt"]'));
      await panel.getByRole("button", { name: "Show" }).click();
      await containsText(panel, "all 412 tests passed");
      await screenshot(page, "run");

      expect((await forge.gql(SIGNAL, { runId: id, stepId: "approve", payload: { approvedBy: "bob" } })).errors).toBeUndefined();
      expect((await forge.gql(TICK)).data.tickOnce.ticked).toBe(1);
      await hasAttribute(page.locator("section.run"), "data-run-status", "SUCCEEDED");
      for (const stepId of Object.keys(PIPELINE.steps)) await expectStatus(node(page, stepId), "SUCCEEDED");
      await hasCount(page.locator("tr.ev-run_succeeded"), 1);
      await node(page, "approve").click();
      await containsText(page.locator('[data-step-panel="approve"] [data-field="output"]'), '"approvedBy": "bob"');
      await hasText(page.locator('[data-step-panel="approve"] [data-field="attempts"]'), "1");
      expect(await stillSameDocument(page)).toBe(true);

      // The URL is the run's: a reload replays its events from the first and shows the same.
      const events = (await forge.gql(`{ run(id: "${id}") { eventCount } }`)).data.run.eventCount as number;
      await page.reload();
      await hasAttribute(page.locator("section.run"), "data-run-status", "SUCCEEDED");
      for (const stepId of Object.keys(PIPELINE.steps)) await expectStatus(node(page, stepId), "SUCCEEDED");
      await hasCount(page.locator(".event-log tbody tr"), events);
      const seqs = await page.locator(".event-log tbody tr").evaluateAll((rows) => rows.map((r) => Number(r.getAttribute("data-seq"))));
      expect(seqs).toEqual(Array.from({ length: events }, (_, i) => i + 1));
      await finish(dashboard);
    },
    TEST_MS,
  );

  it(
    "a run page shows a failed step's error, and the steps skipped after it",
    async () => {
      const dashboard = await openDashboard(newPage);
      const { page, forge } = dashboard;
      const graph = {
        steps: {
          compile: { type: "fail", params: { message: "disk full on /var" } },
          test: { type: "noop", deps: ["compile"] },
          docs: { type: "noop" },
        },
      };
      const id = await createRun(forge, { graph });
      await page.goto(`${dashboard.origin}/runs/${id}`);
      await expectStatus(node(page, "compile"), "PENDING");
      await forge.gql(TICK);
      await expectStatus(node(page, "compile"), "FAILED");
      await expectStatus(node(page, "test"), "SKIPPED");
      await expectStatus(node(page, "docs"), "SUCCEEDED");
      await hasAttribute(page.locator("section.run"), "data-run-status", "FAILED");
      await node(page, "compile").click();
      await containsText(page.locator('[data-step-panel="compile"] [data-field="error"]'), "disk full on /var");
      await finish(dashboard);
    },
    TEST_MS,
  );

  it(
    "admin actions once the admin token is entered: tick, signal an approval and cancel a run; a wrong token's refusal shows the API's message",
    async () => {
      const dashboard = await openDashboard(newPage);
      const { page, forge } = dashboard;
      await hasCount(page.getByRole("button", { name: "Tick once" }), 0);
      await useToken(page, ADMIN);
      expect(await page.evaluate(() => sessionStorage.getItem("forge.token"))).toBe(ADMIN);
      expect(await page.evaluate(() => localStorage.length)).toBe(0);

      const gated = await createRun(forge, { graph: { steps: { gate: { type: "approval" }, after: { type: "noop", deps: ["gate"] } } } });
      await page.goto(`${dashboard.origin}/runs/${gated}`);
      await expectStatus(node(page, "gate"), "PENDING");
      await page.getByRole("button", { name: "Tick once" }).click();
      await expectStatus(node(page, "gate"), "WAITING");
      await node(page, "gate").click();
      await page.locator('textarea[name="payload"]').fill('{"ok": "yes"}');
      await page.getByRole("button", { name: "Signal gate" }).click();
      await expectStatus(node(page, "gate"), "SUCCEEDED");
      await page.getByRole("button", { name: "Tick once" }).click();
      await hasAttribute(page.locator("section.run"), "data-run-status", "SUCCEEDED");
      expect((await forge.gql(`{ run(id: "${gated}") { steps { stepId output } } }`)).data.run.steps[0]).toEqual({
        stepId: "gate",
        output: { ok: "yes" },
      });

      const doomed = await createRun(forge, { graph: { steps: { hold: { type: "approval" } } } });
      await page.goto(`${dashboard.origin}/runs/${doomed}`);
      await page.getByRole("button", { name: "Tick once" }).click();
      await expectStatus(node(page, "hold"), "WAITING");
      await page.getByRole("button", { name: "Cancel run" }).click();
      await hasAttribute(page.locator("section.run"), "data-run-status", "CANCELLED");
      await expectStatus(node(page, "hold"), "CANCELLED");
      expect((await forge.gql(`{ run(id: "${doomed}") { status } }`)).data.run.status).toBe("CANCELLED");

      // A wrong token: the API refuses, and the page says what the API said.
      const refusal = await forge.gql("mutation { tickOnce(limit: 10) { ticked } }", {}, "not-the-admin-token");
      const message = refusal.errors?.[0]?.message as string;
      expect(message).toBeTruthy();
      const waiting = await createRun(forge, { graph: { steps: { hold: { type: "approval" } } } });
      await page.goto(`${dashboard.origin}/runs/${waiting}`);
      await useToken(page, "not-the-admin-token");
      await page.getByRole("button", { name: "Tick once" }).click();
      await containsText(page.getByRole("alert").filter({ hasText: "tick refused" }), `FORBIDDEN: ${message}`);
      await page.getByRole("button", { name: "Cancel run" }).click();
      await containsText(page.getByRole("alert").filter({ hasText: "cancel refused" }), "FORBIDDEN");
      expect((await forge.gql(`{ run(id: "${waiting}") { status } }`)).data.run.status).toBe("PENDING");
      await finish(dashboard);
    },
    TEST_MS,
  );

  it(
    "the queue page shows workerStatus and the due runs of each lane, and follows them as runs are created and ticked",
    async () => {
      const dashboard = await openDashboard(newPage, { path: "/queue" });
      const { page, forge } = dashboard;
      await visible(page.getByText("enter the admin token"));
      await useToken(page, ADMIN);
      const depth = page.locator('[data-field="queueDepth"]');
      await hasText(depth, "0");
      await containsText(page.locator("[data-worker]"), "no live worker");
      await visible(page.getByText("No worker has a recent heartbeat."));
      // A worker process elsewhere registers: it is listed once the page reads again.
      await registerWorker(forge.app.forge.db, "worker-host:4242:0a1b2c3d", forge.clock.now());
      await visible(page.locator('tr[data-worker-row="worker-host:4242:0a1b2c3d"]'));
      await createRun(forge, { lane: "fast" });
      await createRun(forge, { lane: "fast" });
      await createRun(forge, { lane: "default" });
      await hasText(depth, "3");
      await containsText(page.locator('tr[data-lane="fast"]'), "2");
      await containsText(page.locator('tr[data-lane="default"]'), "1");
      await screenshot(page, "queue");
      await forge.gql(TICK);
      await hasText(depth, "0");
      await visible(page.getByText("No run is due in any lane."));
      await finish(dashboard);
    },
    TEST_MS,
  );

  it(
    "re-run from a failed run's page: the new run's page opens, says what it re-runs and reuses what succeeded; from a chosen step; the original lists its re-runs; a refusal in the API's words",
    async () => {
      const dashboard = await openDashboard(newPage);
      const { page, forge } = dashboard;
      const graph = {
        steps: {
          fetch: { type: "noop" },
          build: { type: "fail", deps: ["fetch"], params: { message: "compiler crashed" } },
          docs: { type: "noop" },
        },
      };
      const original = await createRun(forge, { jobType: "release", graph });
      await forge.gql(TICK);
      await page.goto(`${dashboard.origin}/runs/${original}`);
      await hasAttribute(page.locator("section.run"), "data-run-status", "FAILED");
      await visible(page.getByText("Enter the admin token to cancel, re-run, signal or tick."));
      await hasCount(page.getByRole("button", { name: "Re-run" }), 0);
      await useToken(page, ADMIN);
      // A run that ended does not wait for anything; it may be re-run, not cancelled.
      await hasCount(page.locator(".run-facts [data-waiting]"), 0);
      await hasCount(page.getByRole("button", { name: "Cancel run" }), 0);
      const fromStep = page.locator('select[name="fromStep"]');
      // The default first, then every step of the run.
      const choices = await fromStep.locator("option").evaluateAll((options) => options.map((o) => (o as HTMLOptionElement).value));
      expect(choices[0]).toBe("");
      expect(choices.slice(1).sort()).toEqual(["build", "docs", "fetch"]);
      await markDocument(page);

      // Without a step: what did not succeed runs again, the rest is reused.
      await page.getByRole("button", { name: "Re-run" }).click();
      const firstRerun = await newRunOpened(page, original);
      await hasAttribute(page.locator("section.run"), "data-run-status", "PENDING");
      await hasText(page.locator('[data-field="rerunOf"]'), original);
      await hasAttribute(page.locator(".run-facts [data-waiting]"), "data-waiting", "QUEUED");
      await expectStatus(node(page, "fetch"), "SUCCEEDED");
      await expectStatus(node(page, "docs"), "SUCCEEDED");
      await expectStatus(node(page, "build"), "PENDING");
      await node(page, "fetch").click();
      await hasText(page.locator('[data-step-panel="fetch"] [data-field="attempts"]'), "0");
      const api = (await forge.gql(`{ run(id: "${firstRerun}") { rerunOf jobType steps { stepId status attempts } } }`)).data.run;
      expect(api.rerunOf).toBe(original);
      expect(api.jobType).toBe("release");
      expect(
        Object.fromEntries(api.steps.map((s: { stepId: string; status: string; attempts: number }) => [s.stepId, [s.status, s.attempts]])),
      ).toEqual({
        fetch: ["SUCCEEDED", 0],
        build: ["PENDING", 0],
        docs: ["SUCCEEDED", 0],
      });
      await page.getByRole("button", { name: "Tick once" }).click();
      await hasAttribute(page.locator("section.run"), "data-run-status", "FAILED");
      await expectStatus(node(page, "build"), "FAILED");

      // The link back to the original, which now lists the re-run; from a chosen step, it and what depends on it run again.
      await page.locator('[data-field="rerunOf"] a').click();
      await hasAttribute(page.locator("section.run"), "data-run-status", "FAILED");
      await hasText(page.locator('[data-field="reruns"]'), firstRerun);
      await page.locator('select[name="fromStep"]').selectOption("fetch");
      // Re-runs are listed oldest first by creation time (ties in the same millisecond fall to the ids' random bits).
      (forge.clock as TestClock).advance(1);
      await page.getByRole("button", { name: "Re-run" }).click();
      const secondRerun = await newRunOpened(page, original);
      expect(secondRerun).not.toBe(firstRerun);
      await hasText(page.locator('[data-field="rerunOf"]'), original);
      await expectStatus(node(page, "fetch"), "PENDING");
      await expectStatus(node(page, "build"), "PENDING");
      await expectStatus(node(page, "docs"), "SUCCEEDED");
      await page.locator('[data-field="rerunOf"] a').click();
      await hasCount(page.locator('[data-field="reruns"] a'), 2);
      expect(await page.locator('[data-field="reruns"] a').allTextContents()).toEqual([firstRerun, secondRerun]);
      await page.locator('[data-field="reruns"] a').last().click();
      await expect.poll(() => new URL(page.url()).pathname, POLL).toBe(`/runs/${secondRerun}`);
      await hasText(page.locator('[data-field="rerunOf"]'), original);
      expect(await stillSameDocument(page)).toBe(true);

      // A wrong token: the API refuses the re-run, the page says so and stays where it is.
      await page.goto(`${dashboard.origin}/runs/${original}`);
      await useToken(page, "not-the-admin-token");
      await page.getByRole("button", { name: "Re-run" }).click();
      await containsText(page.getByRole("alert").filter({ hasText: "re-run refused" }), "FORBIDDEN");
      expect(new URL(page.url()).pathname).toBe(`/runs/${original}`);
      expect((await forge.gql(`{ run(id: "${original}") { reruns } }`)).data.run.reruns).toEqual([firstRerun, secondRerun]);
      await finish(dashboard);
    },
    TEST_MS,
  );

  it(
    "bulk actions over the list's filters: a dry run says how many match and would change, the confirmation acts and says how many did; an empty filter is refused in the API's words",
    async () => {
      const dashboard = await openDashboard(newPage);
      const { page, forge } = dashboard;
      const done = await createRun(forge, { jobType: "nightly" });
      const gated = await createRun(forge, { jobType: "nightly", graph: { steps: { gate: { type: "approval" } } } });
      await forge.gql(TICK);
      const queued = await createRun(forge, { jobType: "nightly" });
      const queuedToo = await createRun(forge, { jobType: "nightly" });
      const other = await createRun(forge, { jobType: "hourly" });
      await useToken(page, ADMIN);
      await page.goto(`${dashboard.origin}/?jobType=nightly`);
      const rows = page.locator("tbody tr");
      await hasCount(rows, 4);
      // Why each waits, one query for the whole list: the approval, the queue, nothing for a run that ended.
      await hasAttribute(row(page, gated).locator("[data-waiting]"), "data-waiting", "SIGNAL");
      await hasAttribute(row(page, queued).locator("[data-waiting]"), "data-waiting", "QUEUED");
      await hasCount(row(page, done).locator("[data-waiting]"), 0);
      const gatedWaiting = (await forge.gql(`{ run(id: "${gated}") { waiting { detail } } }`)).data.run.waiting;
      await hasAttribute(row(page, gated).locator("[data-waiting]"), "title", gatedWaiting.detail);

      await page.getByRole("button", { name: "Cancel matching" }).click();
      await containsText(page.locator('[data-field="bulk-preview"]'), "4 match, 3 would be cancelled");
      // The dry run changed nothing.
      for (const id of [queued, gated, queuedToo])
        expect((await forge.gql(`{ run(id: "${id}") { status } }`)).data.run.status).not.toBe("CANCELLED");
      await page.getByRole("button", { name: "Confirm cancel" }).click();
      await containsText(page.locator('[data-field="bulk-outcome"]'), "4 matched, 3 cancelled");
      for (const id of [queued, gated, queuedToo]) await expectStatus(row(page, id), "CANCELLED");
      await expectStatus(row(page, done), "SUCCEEDED");
      await hasCount(row(page, gated).locator("[data-waiting]"), 0);
      expect((await forge.gql(`{ run(id: "${other}") { status } }`)).data.run.status).toBe("PENDING");

      // Re-run what was cancelled: the status filter narrows it to those three.
      await page.locator('select[name="status"]').selectOption("CANCELLED");
      await hasCount(rows, 3);
      await page.getByRole("button", { name: "Re-run matching" }).click();
      await containsText(page.locator('[data-field="bulk-preview"]'), "3 match, 3 would be re-run");
      await page.getByRole("button", { name: "Confirm re-run" }).click();
      await containsText(page.locator('[data-field="bulk-outcome"]'), "3 matched, 3 re-run");
      for (const id of [queued, gated, queuedToo])
        expect((await forge.gql(`{ run(id: "${id}") { reruns } }`)).data.run.reruns).toHaveLength(1);

      // No filter: the API refuses (nothing acts on every run by accident), and the page says what it said.
      const refusal = await forge.gql("mutation { cancelRuns(filter: {}, dryRun: true) { matched } }");
      expect(refusal.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
      await page.getByRole("link", { name: "Runs" }).click();
      await expect.poll(() => page.url(), POLL).toBe(`${dashboard.origin}/`);
      await page.getByRole("button", { name: "Cancel matching" }).click();
      const alert = page.getByRole("alert").filter({ hasText: "cancel matching refused" });
      await containsText(alert, `BAD_USER_INPUT: ${refusal.errors?.[0]?.message}`);
      await containsText(alert, "Set a status, job type or lane filter");
      await hasCount(page.getByRole("button", { name: "Confirm cancel" }), 0);
      expect((await forge.gql(`{ run(id: "${other}") { status } }`)).data.run.status).toBe("PENDING");
      await finish(dashboard);
    },
    TEST_MS,
  );

  it(
    "pauses on the queue page: a paused lane's run waits PAUSED in the list and on its page and is not ticked; resumed, it runs; a step in backoff waits until its retry",
    async () => {
      const dashboard = await openDashboard(newPage, { path: "/queue" });
      const { page, forge } = dashboard;
      await useToken(page, ADMIN);
      const pausesPanel = page.locator('[data-panel="pauses"]');
      await visible(pausesPanel.getByText("Nothing is paused."));
      // Neither a lane nor a job type: the API refuses, in its words.
      await pausesPanel.getByRole("button", { name: "Pause" }).click();
      await containsText(pausesPanel.getByRole("alert").filter({ hasText: "pause refused" }), "BAD_USER_INPUT");
      await pausesPanel.locator('input[name="lane"]').fill("slow");
      await pausesPanel.locator('input[name="reason"]').fill("database maintenance");
      await pausesPanel.getByRole("button", { name: "Pause" }).click();
      const pauseRow = pausesPanel.locator('tr[data-pause-lane="slow"]');
      await containsText(pauseRow, "database maintenance");
      await containsText(pauseRow, "any job type");
      await hasCount(pausesPanel.getByRole("alert"), 0);
      const pauses = (await forge.gql("{ pauses { lane jobType reason pausedAt } }")).data.pauses;
      expect(pauses).toEqual([{ lane: "slow", jobType: null, reason: "database maintenance", pausedAt: expect.any(String) }]);
      await hasAttribute(pauseRow.locator("time"), "datetime", pauses[0].pausedAt);
      await markDocument(page);

      const held = await createRun(forge, { lane: "slow" });
      const free = await createRun(forge, { lane: "fast" });
      const flaky = await createRun(forge, {
        lane: "fast",
        graph: { steps: { flaky: { type: "fail", params: { message: "503" }, retry: { maxAttempts: 3, backoffMs: 60_000 } } } },
      });
      await page.getByRole("link", { name: "Runs" }).click();
      await hasAttribute(row(page, held).locator("[data-waiting]"), "data-waiting", "PAUSED");
      await hasAttribute(row(page, free).locator("[data-waiting]"), "data-waiting", "QUEUED");
      const heldWaiting = (await forge.gql(`{ run(id: "${held}") { waiting { reason detail } } }`)).data.run.waiting;
      expect(heldWaiting.reason).toBe("PAUSED");
      await hasAttribute(row(page, held).locator("[data-waiting]"), "title", heldWaiting.detail);

      // A tick runs the other lane and leaves the paused one alone.
      await page.getByRole("button", { name: "Tick once" }).click();
      await expectStatus(row(page, free), "SUCCEEDED");
      await hasAttribute(row(page, flaky).locator("[data-waiting]"), "data-waiting", "RETRY_BACKOFF");
      await expectStatus(row(page, held), "PENDING");
      await hasAttribute(row(page, held).locator("[data-waiting]"), "data-waiting", "PAUSED");

      // On the run's own page: the reason, the API's sentence and, for a backoff, until when.
      await row(page, held).getByRole("link").click();
      await hasAttribute(page.locator(".run-facts [data-waiting]"), "data-waiting", "PAUSED");
      await hasText(page.locator('.run-facts [data-field="waiting-detail"]'), heldWaiting.detail);
      await hasCount(page.locator(".run-facts [data-waiting] time"), 0);
      await page.goto(`${dashboard.origin}/runs/${flaky}`);
      await hasAttribute(page.locator(".run-facts [data-waiting]"), "data-waiting", "RETRY_BACKOFF");
      const flakyWaiting = (await forge.gql(`{ run(id: "${flaky}") { waiting { until detail } } }`)).data.run.waiting;
      expect(flakyWaiting.until).toBeTruthy();
      await hasAttribute(page.locator(".run-facts [data-waiting] time"), "datetime", flakyWaiting.until);
      await hasText(page.locator('.run-facts [data-field="waiting-detail"]'), flakyWaiting.detail);

      // Resumed: the pause is gone from the list, and the next tick runs the held run.
      await page.getByRole("link", { name: "Queue" }).click();
      await page.locator('[data-panel="pauses"] tr[data-pause-lane="slow"]').getByRole("button", { name: "Resume" }).click();
      await visible(page.locator('[data-panel="pauses"]').getByText("Nothing is paused."));
      expect((await forge.gql("{ pauses { lane } }")).data.pauses).toEqual([]);
      await page.getByRole("link", { name: "Runs" }).click();
      await hasAttribute(row(page, held).locator("[data-waiting]"), "data-waiting", "QUEUED");
      await page.getByRole("button", { name: "Tick once" }).click();
      await expectStatus(row(page, held), "SUCCEEDED");
      await hasCount(row(page, held).locator("[data-waiting]"), 0);
      await finish(dashboard);
    },
    TEST_MS,
  );

  it(
    "retention on the queue page: a dry run counts the runs, events and artifacts that finished before the instant in the chosen statuses; confirmed, exactly those are deleted",
    async () => {
      const dashboard = await openDashboard(newPage, { path: "/queue" });
      const { page, forge } = dashboard;
      const clock = forge.clock as TestClock;
      const start = clock.now().getTime();
      const report = await createRun(forge, {
        graph: { steps: { report: { type: "artifact", params: { name: "report.txt", content: "ok" } } } },
      });
      const broken = await createRun(forge, { graph: { steps: { f: { type: "fail", params: { message: "no" } } } } });
      await forge.gql(TICK);
      const stillGoing = await createRun(forge, { graph: { steps: { gate: { type: "approval" } } } });
      await forge.gql(TICK);
      clock.advance(10 * 86_400_000);
      const recent = await createRun(forge);
      await forge.gql(TICK);
      const eventsOf = async (id: string) => (await forge.gql(`{ run(id: "${id}") { eventCount } }`)).data.run.eventCount as number;
      const reportEvents = await eventsOf(report);
      const brokenEvents = await eventsOf(broken);

      await useToken(page, ADMIN);
      const panel = page.locator('[data-panel="retention"]');
      await visible(panel);
      // Five days after the first runs, in the reader's time zone, as a datetime-local input takes it.
      const before = await page.evaluate(
        (ms) => {
          const at = new Date(ms);
          const pad = (n: number) => String(n).padStart(2, "0");
          return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T${pad(at.getHours())}:${pad(at.getMinutes())}`;
        },
        start + 5 * 86_400_000,
      );
      await panel.locator('input[name="finishedBefore"]').fill(before);
      await panel.locator('input[value="FAILED"]').uncheck();
      await panel.getByRole("button", { name: "Count runs to prune" }).click();
      await hasText(
        panel.locator('[data-field="prune-preview"]'),
        `Would delete 1 run(s), ${reportEvents} event(s), 1 artifact(s). Delete them`,
      );
      await panel.locator('input[value="FAILED"]').check();
      // Another choice of statuses is counted again before anything can be deleted.
      await hasCount(panel.getByRole("button", { name: "Delete them" }), 0);
      await panel.getByRole("button", { name: "Count runs to prune" }).click();
      await containsText(
        panel.locator('[data-field="prune-preview"]'),
        `Would delete 2 run(s), ${reportEvents + brokenEvents} event(s), 1 artifact(s).`,
      );
      // Counting deleted nothing.
      expect((await forge.gql(`{ run(id: "${report}") { id } }`)).data.run).not.toBeNull();
      await panel.getByRole("button", { name: "Delete them" }).click();
      await hasText(
        panel.locator('[data-field="prune-outcome"]'),
        `deleted 2 run(s), ${reportEvents + brokenEvents} event(s), 1 artifact(s)`,
      );
      for (const id of [report, broken]) expect((await forge.gql(`{ run(id: "${id}") { id } }`)).data.run).toBeNull();
      for (const id of [stillGoing, recent]) expect((await forge.gql(`{ run(id: "${id}") { id } }`)).data.run).not.toBeNull();
      // Counted again, nothing is left to prune before that instant.
      await panel.getByRole("button", { name: "Count runs to prune" }).click();
      await containsText(panel.locator('[data-field="prune-preview"]'), "Would delete 0 run(s), 0 event(s), 0 artifact(s).");
      await hasCount(panel.getByRole("button", { name: "Delete them" }), 0);
      await finish(dashboard);
    },
    TEST_MS,
  );

  it(
    "with FORGE_API_TOKEN set the page loads, says the API's refusal, and reads and follows runs once the token is entered",
    async () => {
      const dashboard = await openDashboard(newPage, { env: { FORGE_API_TOKEN: API } });
      const { page, forge } = dashboard;
      const refusal = await forge.gql("{ runs { edges { cursor } } }", {}, null);
      const message = refusal.errors?.[0]?.message as string;
      expect(refusal.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
      await containsText(page.getByRole("alert").filter({ hasText: "runs could not be read" }), message);

      const before = await createRun(forge);
      await useToken(page, API);
      await row(page, before).waitFor({ timeout: STEP_MS });
      await expect.poll(() => forge.app.forge.feed.listenerCount, { timeout: STEP_MS }).toBeGreaterThan(0);
      const after = await createRun(forge);
      await row(page, after).waitFor({ timeout: STEP_MS });
      // The one refusal: the runs query sent before the token was entered.
      await finish(dashboard, 1);
    },
    TEST_MS,
  );

  it(
    "a run of 1,000 steps is drawn, and its steps turn green live as one tick runs them all",
    async () => {
      const dashboard = await openDashboard(newPage, { watchWebSockets: true });
      const { page, forge } = dashboard;
      const steps: Record<string, { type: string; deps: string[] }> = {};
      // 20 ranks of 50: each step waits for one of the rank before it.
      for (let i = 0; i < 1000; i++) {
        const rank = Math.floor(i / 50);
        steps[`s${i}`] = { type: "noop", deps: rank === 0 ? [] : [`s${(rank - 1) * 50 + ((i * 7) % 50)}`] };
      }
      const id = await createRun(forge, { graph: { steps } });
      await page.goto(`${dashboard.origin}/runs/${id}`);
      await hasCount(page.locator("g.node"), 1000, 30_000);
      await forge.gql(TICK);
      await hasAttribute(page.locator("section.run"), "data-run-status", "SUCCEEDED", 30_000);
      await hasCount(page.locator('g.node[data-status="SUCCEEDED"]'), 1000, 30_000);
      // Every event of the run reached the log: two per step and three of the run's own.
      await hasText(page.locator(".panel.wide h2 .muted"), "(2003)");
      await finish(dashboard);
    },
    TEST_MS,
  );

  it(
    "a chain of 1,000 steps, a thousand ranks deep, is drawn too",
    async () => {
      const dashboard = await openDashboard(newPage, { watchWebSockets: true });
      const { page, forge } = dashboard;
      const id = await createRun(forge, { graph: chain(1000) });
      await page.goto(`${dashboard.origin}/runs/${id}`);
      await hasCount(page.locator("g.node"), 1000, 60_000);
      await finish(dashboard);
    },
    TEST_MS,
  );
});
