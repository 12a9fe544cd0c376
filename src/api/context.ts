import type { Waiting } from "../domain/waiting.ts";
import type { Forge } from "../engine/forge.ts";
import type { ArtifactRecord } from "../store/artifacts.ts";
import { byRun, type RunRecord, type StepRecord } from "../store/records.ts";
import { AnswerBudget } from "./answer-budget.ts";
import type { Access } from "./auth.ts";
import { batchLoader } from "./batch.ts";
import type { AnswerSink } from "./fanout.ts";

/** Per-operation context, for HTTP requests and graphql-ws subscriptions alike. */
export interface Context {
  forge: Forge;
  access: Access;
  /** A run's steps in their stable order, loaded together for every run of the operation. */
  loadSteps: (runId: string) => Promise<StepRecord[]>;
  /** A run's artifacts (without content), loaded together for every run of the operation. */
  loadArtifacts: (runId: string) => Promise<ArtifactRecord[]>;
  /** An artifact's content, loaded together for every artifact of the operation. */
  loadArtifactContent: (id: number) => Promise<string | null>;
  /** A run's re-runs, oldest first, loaded together for every run of the operation. */
  loadReruns: (runId: string) => Promise<string[]>;
  /** Why a run does not move, worked out together for every run of the operation. */
  loadWaiting: (run: RunRecord) => Promise<Waiting | null>;
  /** What the operation's large values may still take of its answer. */
  answer: AnswerBudget;
  /** A graphql-ws subscription's socket, where shared answers are written straight away (api/fanout.ts). */
  sink?: AnswerSink;
}

export function createContext(forge: Forge, access: Access, maxAnswerBytes: number): Context {
  const loadSteps = batchLoader<string, StepRecord[]>(async (runIds) => byRun(await forge.steps(runIds)), []);
  const loadArtifacts = batchLoader<string, ArtifactRecord[]>(async (runIds) => byRun(await forge.artifacts(runIds)), []);
  const loadArtifactContent = batchLoader<number, string | null>((ids) => forge.artifactContents(ids), null);
  const loadReruns = batchLoader<string, string[]>((runIds) => forge.rerunsOf(runIds), []);
  const loadWaiting = batchLoader<RunRecord, Waiting | null>((runs) => forge.waitingOf(runs, access.admin), null);
  return {
    forge,
    access,
    loadSteps,
    loadArtifacts,
    loadArtifactContent,
    loadReruns,
    loadWaiting,
    answer: new AnswerBudget(maxAnswerBytes),
  };
}
