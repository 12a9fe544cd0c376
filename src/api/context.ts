import type { Forge } from "../engine/forge.ts";
import type { StepRecord } from "../store/records.ts";
import type { Access } from "./auth.ts";
import { batchLoader } from "./batch.ts";

/** Per-operation context, for HTTP requests and graphql-ws subscriptions alike. */
export interface Context {
  forge: Forge;
  access: Access;
  /** A run's steps in their stable order, loaded together for every run of the operation. */
  loadSteps: (runId: string) => Promise<StepRecord[]>;
}

export function createContext(forge: Forge, access: Access): Context {
  const loadSteps = batchLoader<string, StepRecord[]>(async (runIds) => {
    const byRun = new Map<string, StepRecord[]>();
    for (const step of await forge.steps(runIds)) {
      const list = byRun.get(step.runId);
      if (list) list.push(step);
      else byRun.set(step.runId, [step]);
    }
    return byRun;
  }, []);
  return { forge, access, loadSteps };
}
