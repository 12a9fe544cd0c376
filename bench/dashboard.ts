import { existsSync } from "node:fs";
import { join } from "node:path";
import { createClient } from "graphql-ws";
import { pino } from "pino";
import { type Browser, chromium, type Page } from "playwright-core";
import WebSocket from "ws";
import { loadConfig } from "../src/config.ts";
import { DASHBOARD_DIST } from "../src/ops/dashboard.ts";
import { buildApp } from "../src/server.ts";
import { CHROMIUM } from "../tests/support/browser.ts";
import { fmt, freshDbFile, percentile, printTable } from "./support.ts";

const TOKEN = "bench-admin-token";
const CREATE = `mutation($input: CreateRunInput!) { createRun(input: $input) { id } }`;
const TICK = `mutation { tickOnce(limit: 100) { ticked } }`;

/** The run page's benchmark graph: 20 ranks of 50 steps, each waiting for one of the rank before. */
function wideGraph(steps: number): { steps: Record<string, { type: string; deps: string[] }> } {
  const graph: Record<string, { type: string; deps: string[] }> = {};
  for (let i = 0; i < steps; i++) {
    const rank = Math.floor(i / 50);
    graph[`s${i}`] = { type: "noop", deps: rank === 0 ? [] : [`s${(rank - 1) * 50 + ((i * 7) % 50)}`] };
  }
  return { steps: graph };
}

/**
 * Starts watching the page for `selector`: the returned function resolves with the wall-clock
 * time (ms since the epoch, as Node's performance.timeOrigin + now() counts it) of the first
 * DOM change after which the selector matches. Watching starts before the change is caused,
 * so nothing is missed; a MutationObserver sees the DOM as React commits it.
 */
async function watch(page: Page, selector: string): Promise<() => Promise<number>> {
  // A string, not a function: tsx compiles this file with helpers (__name) the page lacks.
  const id = `${selector}#${Math.random()}`;
  await page.evaluate(`(() => {
    const sel = ${JSON.stringify(selector)};
    window.forgeWatches ??= new Map();
    window.forgeWatches.set(${JSON.stringify(id)}, new Promise((resolve) => {
      const check = () => {
        if (!document.querySelector(sel)) return;
        observer.disconnect();
        resolve(performance.timeOrigin + performance.now());
      };
      const observer = new MutationObserver(check);
      observer.observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
      check();
    }));
  })()`);
  return () => page.evaluate(`window.forgeWatches.get(${JSON.stringify(id)})`) as Promise<number>;
}

const wallNow = () => performance.timeOrigin + performance.now();

/**
 * The dashboard in Chromium against a Forge on a real port: its first paint and the time
 * to the runs table on a cold load; how long a commit (createRun, tickOnce) takes to show
 * on the runs page, next to the bound of a graphql-ws subscriber in Node receiving the same
 * commit's event; and the run page of a 1,000-step run, drawn and then turned green by a tick.
 */
export async function benchDashboard(o: { loads: number; repetitions: number; graphSteps: number; graphLoads: number }): Promise<void> {
  if (!existsSync(join(DASHBOARD_DIST, "index.html"))) throw new Error("the dashboard is not built: run npm run build:dashboard");
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}`);
  const config = loadConfig({ DATABASE_URL: `file:${freshDbFile()}`, FORGE_PORT: "0", LOG_LEVEL: "silent", FORGE_ADMIN_TOKEN: TOKEN });
  const app = await buildApp(config, { log: pino({ level: "silent" }) });
  const url = await app.start();
  const origin = new URL(url).origin;
  const gql = async (query: string, variables?: unknown): Promise<any> => {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as { data?: unknown; errors?: unknown };
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return body.data;
  };
  const createRun = async (graph: unknown = { steps: { only: { type: "noop" } } }) =>
    (await gql(CREATE, { input: { mode: "LIVE", jobType: "bench", requestedBy: "bench", graph } })).createRun.id as string;

  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
    ],
  });
  const ws = createClient({ url: url.replace(/^http/, "ws"), webSocketImpl: WebSocket, connectionParams: {} });
  try {
    for (let i = 0; i < 20; i++) await createRun();
    // Nothing left queued: each tick below advances only the run it measures.
    await gql(TICK);

    // Cold loads: a new context each time, so nothing is cached.
    const paints: number[] = [];
    const tables: number[] = [];
    for (let i = 0; i < o.loads; i++) {
      const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
      const page = await context.newPage();
      await page.goto(`${origin}/`);
      await page.waitForSelector("table.runs tbody tr", { timeout: 30_000 });
      const times = (await page.evaluate(`({
        paint: performance.getEntriesByType("paint").find((e) => e.name === "first-contentful-paint")?.startTime ?? NaN,
        table: performance.now(),
      })`)) as { paint: number; table: number };
      paints.push(times.paint);
      tables.push(times.table);
      await context.close();
    }

    // Commit to screen on the runs page, next to a Node subscriber's event for the same commit.
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${origin}/`);
    await page.waitForSelector("table.runs tbody tr", { timeout: 30_000 });
    const arrivals = new Map<string, number>();
    const stopEvents = ws.subscribe<{ events: { runId: string; type: string } }>(
      { query: "subscription { events { runId type } }" },
      {
        next: (message) => {
          const event = message.data?.events;
          if (event) arrivals.set(`${event.runId}:${event.type}`, wallNow());
        },
        error: () => {},
        complete: () => {},
      },
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    const created: number[] = [];
    const ticked: number[] = [];
    const createdBound: number[] = [];
    const tickedBound: number[] = [];
    for (let i = 0; i < o.repetitions; i++) {
      const id = `bench-${i}-${Date.now()}`;
      const appeared = await watch(page, `tr[data-run-id="${id}"]`);
      let start = wallNow();
      await gql(CREATE, {
        input: { id, mode: "LIVE", jobType: "bench", requestedBy: "bench", graph: { steps: { only: { type: "noop" } } } },
      });
      created.push((await appeared()) - start);
      createdBound.push((arrivals.get(`${id}:run_created`) ?? Number.NaN) - start);

      const succeeded = await watch(page, `tr[data-run-id="${id}"][data-status="SUCCEEDED"]`);
      start = wallNow();
      await gql(TICK);
      ticked.push((await succeeded()) - start);
      tickedBound.push((arrivals.get(`${id}:run_succeeded`) ?? Number.NaN) - start);
    }
    stopEvents();
    await context.close();

    // The run page of a large run: drawn (layout and SVG committed), then every node green after one tick.
    const drawn: number[] = [];
    const green: number[] = [];
    const longestTask: number[] = [];
    for (let i = 0; i < o.graphLoads; i++) {
      const id = await createRun(wideGraph(o.graphSteps));
      const graphContext = await browser.newContext({ viewport: { width: 1440, height: 900 } });
      const graphPage = await graphContext.newPage();
      // The longest task on the page's main thread while it loads and lays out the graph.
      await graphPage.addInitScript(`window.forgeLongest = 0;
        new PerformanceObserver((list) => {
          for (const entry of list.getEntries()) window.forgeLongest = Math.max(window.forgeLongest, entry.duration);
        }).observe({ type: "longtask", buffered: true });`);
      const navigated = wallNow();
      await graphPage.goto(`${origin}/runs/${id}`);
      const shown = await watch(graphPage, `svg[data-steps="${o.graphSteps}"]`);
      drawn.push((await shown()) - navigated);
      longestTask.push((await graphPage.evaluate("window.forgeLongest")) as number);
      const done = await watch(
        graphPage,
        `section.run[data-run-status="SUCCEEDED"] svg[data-steps]:not(:has(g.node:not([data-status="SUCCEEDED"])))`,
      );
      const start = wallNow();
      await gql(TICK);
      green.push((await done()) - start);
      await graphContext.close();
    }

    const sorted = (values: number[]) => [...values].sort((a, b) => a - b);
    const row = (label: string, values: number[]): Array<string | number> => {
      const s = sorted(values);
      return [label, s.length, fmt(percentile(s, 50), 1), fmt(percentile(s, 99), 1)];
    };
    printTable(
      `Dashboard in Chromium (cold loads: ${o.loads}; commits: ${o.repetitions}; ${o.graphSteps}-step run page: ${o.graphLoads})`,
      ["measure", "n", "median ms", "p99 ms"],
      [
        row("first contentful paint (cold load of /)", paints),
        row("runs table visible (cold load of /)", tables),
        row("createRun -> Node events subscriber (bound)", createdBound),
        row("createRun -> new row on the runs page", created),
        row("tickOnce -> Node events subscriber (bound)", tickedBound),
        row("tickOnce -> row shows SUCCEEDED", ticked),
        row(`run page of ${o.graphSteps} steps: navigation -> graph drawn`, drawn),
        row(`run page of ${o.graphSteps} steps: longest main-thread task until drawn`, longestTask),
        row(`run page of ${o.graphSteps} steps: tickOnce -> every node SUCCEEDED`, green),
      ],
    );
  } finally {
    await ws.dispose();
    await browser.close();
    await app.stop();
  }
}
