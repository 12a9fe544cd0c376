import type { Reporter, TestModule } from "vitest/node";

/**
 * Prints how many tests each dialect ran and how many browser tests ran (files named
 * `*.browser.test.ts`), then the plain `tests: N passed, M failed` line that CI reads, as the
 * last line. `.ci/run` checks the postgres and browser lines to make sure neither the
 * PostgreSQL suites nor the browser tests were skipped.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    let browser = 0;
    const perProject = new Map<string, number>([
      ["sqlite", 0],
      ["postgres", 0],
    ]);
    for (const module of modules) {
      const project = module.project.name;
      const inBrowser = module.moduleId.endsWith(".browser.test.ts");
      let failedHere = 0;
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === "passed") passed++;
        else if (state === "failed") failedHere++;
        else skipped++;
        if (state === "passed" || state === "failed") {
          perProject.set(project, (perProject.get(project) ?? 0) + 1);
          if (inBrowser) browser++;
        }
      }
      // A file can fail with every test passed: an error while loading it, or in a hook such
      // as the leak guard (tests/support/setup.ts). That counts as one failure.
      if (module.state() === "failed" && failedHere === 0) failedHere = 1;
      failed += failedHere;
    }
    const lines = [...perProject].map(([name, ran]) => `${name}: ${ran} tests ran`);
    // Browser tests are skipped outside CI when Chromium is missing (tests/support/browser.ts).
    lines.push(`browser: ${browser} tests ran`);
    // Skipped tests are those written for the other dialect only (it.runIf), and browser tests
    // where there is no Chromium.
    lines.push(`skipped: ${skipped}`);
    process.stdout.write(`\n${lines.join("\n")}\ntests: ${passed} passed, ${failed} failed\n`);
  }
}
