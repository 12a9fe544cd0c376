import { type GraphStep, layOut } from "./layout.ts";

/** Lays out a large run's graph off the page's thread (components/RunGraph.tsx): steps in, layout out. */
const scope = self as unknown as { onmessage: ((event: MessageEvent<GraphStep[]>) => void) | null; postMessage(message: unknown): void };
// A layout that fails (dagre recurses once per rank, and a worker's stack is small) is reported,
// so the page can try on its own thread and else say why.
scope.onmessage = (event) => {
  try {
    scope.postMessage({ layout: layOut(event.data) });
  } catch (error) {
    scope.postMessage({ error: error instanceof Error ? error.message : String(error) });
  }
};
