import { existsSync } from "node:fs";
import { type Browser, type BrowserContextOptions, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, onTestFinished } from "vitest";

/** Debian's Chromium (`apt-get install chromium`); the browser tests drive no other. */
export const CHROMIUM = "/usr/bin/chromium";

/**
 * Why the browser tests cannot run here, or null when they can. Outside CI a missing Chromium
 * skips them (with this reason); under CI=true they run, and fail on launch.
 */
export const browserSkipReason: string | null =
  existsSync(CHROMIUM) || process.env.CI === "true"
    ? null
    : `no Chromium at ${CHROMIUM} (apt-get install chromium); browser tests skipped outside CI`;

if (browserSkipReason) console.warn(`browser tests skipped: ${browserSkipReason}`);

/** Headless, and quiet: no update checks, sync or other traffic of Chromium's own. */
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/**
 * One Chromium for the enclosing describe block: launched before its first test, closed after
 * its last. `page()` gives each test a fresh context (no cookies or storage shared between
 * tests), closed when the test finishes.
 */
export function useChromium(): { page(options?: BrowserContextOptions): Promise<Page> } {
  let browser: Browser | undefined;
  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (CI needs it)`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    browser = undefined;
  });
  return {
    async page(options) {
      if (!browser) throw new Error("Chromium is not running");
      const context = await browser.newContext(options);
      onTestFinished(() => context.close());
      return context.newPage();
    },
  };
}

/**
 * Holds `page` to Forge's own origin, as it would be without internet access: every request for
 * another origin is aborted and recorded in `foreign` (left alone: the origin itself, its blob:
 * workers, whose origin is the page's, and data: URLs, which go nowhere), and every uncaught
 * page error and console error is recorded in `errors`. WebSockets to elsewhere are refused
 * too; with `watchWebSockets` they are only recorded as they open, because a WebSocket route
 * relays every message of every socket through the test process, whatever its URL filter, and
 * a page receiving thousands of events would then be measured through the relay.
 */
export async function offline(
  page: Page,
  origin: string,
  options: { watchWebSockets?: boolean } = {},
): Promise<{ foreign: string[]; errors: string[] }> {
  const foreign: string[] = [];
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(`console error: ${message.text()}`);
  });
  await page.route(
    (target) => target.origin !== origin && target.protocol !== "data:",
    (route) => {
      foreign.push(route.request().url());
      return route.abort("blockedbyclient");
    },
  );
  const wsOrigin = origin.replace(/^http/, "ws");
  if (options.watchWebSockets) {
    page.on("websocket", (socket) => {
      if (new URL(socket.url()).origin !== wsOrigin) foreign.push(socket.url());
    });
  } else {
    await page.routeWebSocket(
      (target) => target.origin !== wsOrigin,
      (socket) => {
        foreign.push(socket.url());
        return socket.close();
      },
    );
  }
  return { foreign, errors };
}
