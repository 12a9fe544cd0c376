import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { browserSkipReason, offline, useChromium } from "./support/browser.ts";
import { dialect, runInput, startForge, type TestForge } from "./support/forge.ts";
import { waitFor } from "./support/wait.ts";

// GraphiQL at GET /graphql, in a real Chromium, with nothing reachable but Forge itself: every
// request for another origin is aborted (and recorded), as it would fail without internet access.
// The browser does not depend on the database, so this runs in the SQLite project only.

/** Generous bounds for the page (a few MB of inlined script) and for each step in it. */
const PAGE_LOAD_MS = 30_000;
const STEP_MS = 20_000;
const TEST_MS = 90_000;

const CREATE_RUN = "mutation($input: CreateRunInput!) { createRun(input: $input) { id } }";

interface GraphiQL {
  page: Page;
  forge: TestForge;
  /** URLs the page asked for on another origin (HTTP and WebSocket), all aborted. */
  foreign: string[];
  /** Uncaught page errors and console errors, in order. */
  errors: string[];
}

/** Starts a Forge on a real port and opens its GraphiQL page; resolves once the editor is ready. */
async function openGraphiQL(newPage: () => Promise<Page>): Promise<GraphiQL> {
  const forge = await startForge();
  const url = await forge.app.start();
  const origin = new URL(url).origin;
  const page = await newPage();
  const { foreign, errors } = await offline(page, origin);
  await page.goto(url);
  try {
    await page.locator(".graphiql-execute-button").waitFor({ timeout: PAGE_LOAD_MS });
    await page.locator(".graphiql-query-editor .monaco-editor").first().waitFor({ timeout: STEP_MS });
  } catch (error) {
    // Say why: a page that needs anything from elsewhere stays blank offline.
    const seen = [`aborted requests for other origins: ${JSON.stringify(foreign)}`, `errors: ${JSON.stringify(errors)}`];
    throw new Error(`GraphiQL did not render at ${url} (${(error as Error).message.split("\n")[0]}); ${seen.join("; ")}`);
  }
  return { page, forge, foreign, errors };
}

const normalized = (text: string) => text.replace(/\s+/g, " ").trim();

/** Replaces the operation editor's text by typing `query` into it, key by key. */
async function typeQuery(page: Page, query: string): Promise<void> {
  await page.locator(".graphiql-query-editor .monaco-editor").first().click();
  await page.keyboard.press("ControlOrMeta+KeyA");
  await page.keyboard.press("Delete");
  await page.keyboard.type(query);
  // The editor closes brackets as they open and types over them: the text must end up as typed.
  const lines = page.locator(".graphiql-query-editor .view-lines");
  await lines.filter({ hasText: query }).waitFor({ timeout: STEP_MS });
  expect(normalized(await lines.innerText())).toBe(query);
}

/** Waits until GraphiQL's result pane shows `text`; returns the whole pane. */
async function resultShowing(page: Page, text: string): Promise<string> {
  const pane = page.locator(".graphiql-response", { hasText: text });
  await pane.waitFor({ timeout: STEP_MS });
  return normalized(await pane.innerText());
}

/** Opens the documentation explorer and waits for the schema's root types to be listed. */
async function openDocs(page: Page) {
  await page.getByRole("button", { name: "Show Documentation Explorer" }).click();
  const docs = page.locator(".graphiql-doc-explorer");
  await docs.locator(".graphiql-doc-explorer-root-type", { hasText: "query" }).waitFor({ timeout: STEP_MS });
  return docs;
}

describe.runIf(dialect === "sqlite")("GraphiQL in Chromium, offline", () => {
  if (browserSkipReason) {
    it.skip(`skipped: ${browserSkipReason}`, () => {});
    return;
  }
  const chromium = useChromium();
  const newPage = () => chromium.page({ viewport: { width: 1600, height: 1000 } });

  it(
    "GraphiQL renders, runs a query typed into its editor and shows the result",
    async () => {
      const { page, forge } = await openGraphiQL(newPage);
      const created = await forge.gql(CREATE_RUN, { input: runInput() });
      const id = created.data.createRun.id as string;

      await typeQuery(page, "{ runs(first: 5) { edges { node { id status } } } }");
      await page.locator(".graphiql-execute-button").click();
      const result = await resultShowing(page, id);
      expect(result).toContain(`"id": "${id}"`);
      expect(result).toContain(`"status": "PENDING"`);
      expect(result).not.toContain('"errors"');
    },
    TEST_MS,
  );

  it(
    "its documentation explorer loads the schema by introspection from the page: Query, its fields, and Run",
    async () => {
      const { page } = await openGraphiQL(newPage);
      const docs = await openDocs(page);
      const typeLink = (name: string) => docs.locator("a.graphiql-doc-explorer-type-name").getByText(name, { exact: true });

      await typeLink("Query").first().click();
      await docs.locator(".graphiql-doc-explorer-title", { hasText: /^Query$/ }).waitFor({ timeout: STEP_MS });
      await docs.locator(".graphiql-doc-explorer-field-name").getByText("runs", { exact: true }).waitFor({ timeout: STEP_MS });

      await docs.locator(".graphiql-doc-explorer-back").click();
      await typeLink("Run").first().click();
      await docs.locator(".graphiql-doc-explorer-title", { hasText: /^Run$/ }).waitFor({ timeout: STEP_MS });
      await docs.locator(".graphiql-doc-explorer-field-name").getByText("status", { exact: true }).waitFor({ timeout: STEP_MS });
    },
    TEST_MS,
  );

  it(
    "loading GraphiQL, running a query and reading the docs sends no request to another origin, with no page or console error",
    async () => {
      const graphiql = await openGraphiQL(newPage);
      const { page } = graphiql;
      const requests: string[] = [];
      page.on("request", (request) => requests.push(request.url()));

      await typeQuery(page, "{ __typename }");
      await page.locator(".graphiql-execute-button").click();
      await resultShowing(page, '"__typename": "Query"');
      const docs = await openDocs(page);
      await docs.locator("a.graphiql-doc-explorer-type-name").getByText("Run", { exact: true }).first().click();
      await docs.locator(".graphiql-doc-explorer-title", { hasText: /^Run$/ }).waitFor({ timeout: STEP_MS });

      expect(graphiql.foreign).toEqual([]);
      expect(graphiql.errors).toEqual([]);
      // The page did reach Forge (so the recording above watched real traffic).
      expect(requests.some((url) => url.endsWith("/graphql"))).toBe(true);
    },
    TEST_MS,
  );

  it(
    "a subscription run in GraphiQL over graphql-ws shows the events of a run as it advances",
    async () => {
      const graphiql = await openGraphiQL(newPage);
      const { page, forge } = graphiql;
      const followers = forge.app.forge.feed.listenerCount;
      const sockets: string[] = [];
      page.on("websocket", (socket) => sockets.push(socket.url()));

      await typeQuery(page, "subscription { events { id type } }");
      await page.locator(".graphiql-execute-button").click();
      // Without afterId the subscription starts at events committed after it began: wait until
      // Forge follows the feed for it before creating the run.
      await waitFor(() => forge.app.forge.feed.listenerCount > followers, "GraphiQL's subscription to reach Forge", STEP_MS);
      await page.getByRole("button", { name: /^Stop query/ }).waitFor({ timeout: STEP_MS });

      expect((await forge.gql(CREATE_RUN, { input: runInput() })).errors).toBeUndefined();
      await resultShowing(page, '"type": "run_created"');
      expect((await forge.gql("mutation { tickOnce(limit: 10) { ticked } }")).data).toEqual({ tickOnce: { ticked: 1 } });
      // GraphiQL shows each event as it arrives; a one-step noop run ends with run_succeeded.
      await resultShowing(page, '"type": "run_succeeded"');

      // Stopping it in GraphiQL ends the subscription on Forge's side.
      await page.getByRole("button", { name: /^Stop query/ }).click();
      await waitFor(() => forge.app.forge.feed.listenerCount === followers, "the subscription to end", STEP_MS);
      expect(sockets.length).toBeGreaterThan(0);
      expect(sockets.every((url) => new URL(url).host === new URL(page.url()).host)).toBe(true);
      expect(graphiql.foreign).toEqual([]);
      expect(graphiql.errors).toEqual([]);
    },
    TEST_MS,
  );
});
