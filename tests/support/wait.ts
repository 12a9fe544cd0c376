/**
 * Polls `check` until it holds. For outcomes produced by another loop (the worker, a
 * socket); the bound only stops a broken test from hanging, and is never a measurement.
 */
export async function waitFor(check: () => Promise<boolean> | boolean, what = "condition", timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A one-shot signal between a test and the code it drives: `fire()` resolves `fired`. */
export function signal(): { fired: Promise<void>; fire: () => void } {
  let fire = () => {};
  const fired = new Promise<void>((resolve) => {
    fire = resolve;
  });
  return { fired, fire };
}
