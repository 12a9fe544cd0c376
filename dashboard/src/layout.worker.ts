import { type GraphStep, layOut } from "./layout.ts";

/** Lays out a large run's graph off the page's thread (components/RunGraph.tsx): steps in, layout out. */
const scope = self as unknown as { onmessage: ((event: MessageEvent<GraphStep[]>) => void) | null; postMessage(message: unknown): void };
scope.onmessage = (event) => scope.postMessage(layOut(event.data));
