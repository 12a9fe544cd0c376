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
