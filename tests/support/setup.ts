import { afterAll } from "vitest";
import { openApps } from "./forge.ts";

// Leak guard: every app a test file starts must be stopped by the end of the file.
afterAll(() => {
  if (openApps.size > 0) throw new Error(`${openApps.size} Forge app(s) left running by this test file`);
});
