import { readFileSync } from "node:fs";
import { userInfo } from "node:os";
import { ApiError, type ForgeClient, UsageError } from "./client.ts";
import { brief, json, record, span, table, time } from "./format.ts";

/**
 * `forge runs list|show|create|cancel|signal|rerun`: each sends one operation and prints its
 * answer, as a table or (with `json`) as the API's JSON.
 */

export interface Output {
  out: NodeJS.WritableStream;
}

interface StepJson {
  stepId: string;
  type: string;
  deps: string[];
  status: string;
  attempts: number;
  startedAt: string | null;
  finishedAt: string | null;
  output: unknown;
  error: string | null;
}

interface RunSummaryJson {
  id: string;
  status: string;
  mode: string;
  jobType: string;
  lane: string;
  requestedBy: string;
  priority: number;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** Why the run is not moving; null when it is terminal or being advanced right now. */
  waiting: WaitingJson | null;
  rerunOf: string | null;
}

interface WaitingJson {
  reason: string;
  until: string | null;
  detail: string;
}

interface RunJson extends RunSummaryJson {
  updatedAt: string;
  idempotencyKey: string | null;
  eventCount: number;
  params: unknown;
  graph: unknown;
  lease: { owner: string; epoch: number; expiresAt: string } | null;
  reruns: string[];
  steps: StepJson[];
}

const SUMMARY = "id status mode jobType lane requestedBy priority createdAt startedAt finishedAt waiting { reason until detail } rerunOf";
const FULL = `${SUMMARY} updatedAt idempotencyKey eventCount params graph lease { owner epoch expiresAt } reruns
  steps { stepId type deps status attempts startedAt finishedAt output error }`;

const LIST = `query ListRuns($first: Int!, $after: String, $status: RunStatus, $jobType: String, $lane: String) {
  runs(first: $first, after: $after, status: $status, jobType: $jobType, lane: $lane) {
    edges { node { ${SUMMARY} } }
    pageInfo { hasNextPage endCursor }
  }
}`;

/** The API's largest page (`runs(first:)` is 1..500). */
const PAGE_MAX = 500;

export interface ListOptions {
  status?: string;
  jobType?: string;
  lane?: string;
  limit: number;
  json: boolean;
}

export async function listRuns(client: ForgeClient, options: ListOptions, io: Output): Promise<number> {
  const runs: RunSummaryJson[] = [];
  let after: string | null = null;
  while (runs.length < options.limit) {
    const page: { runs: { edges: Array<{ node: RunSummaryJson }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } } } =
      await client.request(LIST, {
        first: Math.min(PAGE_MAX, options.limit - runs.length),
        after,
        status: options.status ?? null,
        jobType: options.jobType ?? null,
        lane: options.lane ?? null,
      });
    runs.push(...page.runs.edges.map((edge) => edge.node));
    if (!page.runs.pageInfo.hasNextPage) break;
    after = page.runs.pageInfo.endCursor;
  }
  if (options.json) {
    io.out.write(`${json(runs)}\n`);
    return 0;
  }
  if (runs.length === 0) {
    io.out.write("no runs\n");
    return 0;
  }
  // WAITING is the reason alone, to keep the table narrow; `runs show` has the sentence.
  const rows = runs.map((r) => [
    r.id,
    r.status,
    r.waiting?.reason,
    r.jobType,
    r.lane,
    r.mode,
    r.requestedBy,
    time(r.createdAt),
    span(r.startedAt, r.finishedAt),
  ]);
  io.out.write(`${table(["ID", "STATUS", "WAITING", "JOB TYPE", "LANE", "MODE", "REQUESTED BY", "CREATED", "DURATION"], rows)}\n`);
  return 0;
}

async function fetchRun(client: ForgeClient, id: string): Promise<RunJson> {
  const data = await client.request<{ run: RunJson | null }>(`query ShowRun($id: ID!) { run(id: $id) { ${FULL} } }`, { id });
  // `run` is null for an unknown id; the mutations call that NOT_FOUND, and so does the CLI.
  if (!data.run) throw new ApiError("NOT_FOUND", `run "${id}" does not exist`);
  return data.run;
}

export async function showRun(client: ForgeClient, id: string, options: { json: boolean }, io: Output): Promise<number> {
  const run = await fetchRun(client, id);
  if (options.json) {
    io.out.write(`${json(run)}\n`);
    return 0;
  }
  io.out.write(`${runRecord(run)}\n\n${stepsTable(run.steps)}\n`);
  return 0;
}

function runRecord(run: RunJson): string {
  const done = run.steps.filter((s) => ["SUCCEEDED", "FAILED", "SKIPPED", "CANCELLED"].includes(s.status)).length;
  const entries: Array<[string, string | number | null]> = [
    ["id", run.id],
    ["status", run.status],
    ...(run.waiting ? [["waiting", waitingText(run.waiting)] as [string, string]] : []),
    ["steps", `${done}/${run.steps.length} done`],
    ["job type", run.jobType],
    ["lane", run.lane],
    ["mode", run.mode],
    ["priority", run.priority],
    ["requested by", run.requestedBy],
    ["params", brief(run.params, 100)],
    ["created", time(run.createdAt)],
    ["started", time(run.startedAt)],
    ["finished", time(run.finishedAt)],
    ["duration", span(run.startedAt, run.finishedAt)],
    ["events", run.eventCount],
    ["lease", run.lease ? `${run.lease.owner} (epoch ${run.lease.epoch}) until ${time(run.lease.expiresAt)}` : null],
  ];
  if (run.rerunOf) entries.push(["rerun of", run.rerunOf]);
  if (run.reruns.length > 0) entries.push(["reruns", run.reruns.join(", ")]);
  return record(entries);
}

/** `TIMER until 2026-12-01 10:00:05 - <the API's sentence>`. */
function waitingText(waiting: WaitingJson): string {
  return `${waiting.reason}${waiting.until ? ` until ${time(waiting.until)}` : ""} - ${waiting.detail}`;
}

function stepsTable(steps: StepJson[]): string {
  const rows = steps.map((s) => [
    s.stepId,
    s.type,
    s.status,
    s.attempts,
    s.deps.join(","),
    span(s.startedAt, s.finishedAt),
    s.error ? `error: ${brief(s.error)}` : brief(s.output),
  ]);
  return table(["STEP", "TYPE", "STATUS", "ATTEMPTS", "DEPS", "DURATION", "RESULT"], rows);
}

export interface CreateOptions {
  file: string;
  jobType: string;
  mode: string;
  lane?: string;
  priority?: number;
  param?: Record<string, string>;
  requestedBy?: string;
  id?: string;
  idempotencyKey?: string;
  /** What to print of the new run: its id, the whole run as JSON, or nothing. */
  print: "id" | "json" | "none";
}

/** The graph file's content, parsed; refused before any request when it cannot be read or is not JSON. */
export function readGraph(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT"
        ? "no such file"
        : code === "EISDIR"
          ? "is a directory"
          : code === "EACCES"
            ? "permission denied"
            : (error as Error).message;
    throw new UsageError(`option '--file ${file}': cannot be read (${why})`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`option '--file ${file}': is not valid JSON (${(error as Error).message})`);
  }
}

/** Creates the run and resolves to its id. */
export async function createRun(client: ForgeClient, options: CreateOptions, io: Output): Promise<string> {
  const graph = readGraph(options.file);
  const input = {
    mode: options.mode,
    jobType: options.jobType,
    requestedBy: options.requestedBy ?? defaultRequester(),
    graph,
    params: options.param ?? {},
    ...(options.lane === undefined ? {} : { lane: options.lane }),
    ...(options.priority === undefined ? {} : { priority: options.priority }),
    ...(options.id === undefined ? {} : { id: options.id }),
    ...(options.idempotencyKey === undefined ? {} : { idempotencyKey: options.idempotencyKey }),
  };
  const data = await client.request<{ createRun: RunJson }>(
    `mutation CreateRun($input: CreateRunInput!) { createRun(input: $input) { ${FULL} } }`,
    { input },
  );
  if (options.print === "json") io.out.write(`${json(data.createRun)}\n`);
  else if (options.print === "id") io.out.write(`${data.createRun.id}\n`);
  return data.createRun.id;
}

/** Who a run created from the command line is requested by: the local user. */
function defaultRequester(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return "cli";
  }
}

export async function cancelRun(client: ForgeClient, id: string, options: { json: boolean }, io: Output): Promise<number> {
  const data = await client.request<{ cancelRun: RunJson }>(`mutation CancelRun($id: ID!) { cancelRun(id: $id) { ${FULL} } }`, { id });
  const run = data.cancelRun;
  if (options.json) io.out.write(`${json(run)}\n`);
  else if (run.status === "CANCELLED") io.out.write(`run ${run.id} CANCELLED\n`);
  else io.out.write(`run ${run.id} was already ${run.status}: nothing to cancel\n`);
  return 0;
}

export async function signalRun(
  client: ForgeClient,
  id: string,
  stepId: string,
  options: { payload?: unknown; json: boolean },
  io: Output,
): Promise<number> {
  const data = await client.request<{ signalRun: RunJson }>(
    `mutation SignalRun($runId: ID!, $stepId: String!, $payload: JSON) { signalRun(runId: $runId, stepId: $stepId, payload: $payload) { ${FULL} } }`,
    { runId: id, stepId, payload: options.payload ?? null },
  );
  const run = data.signalRun;
  if (options.json) io.out.write(`${json(run)}\n`);
  else io.out.write(`signalled step ${stepId} of run ${run.id} (run ${run.status}; its next tick goes on)\n`);
  return 0;
}

/**
 * Re-runs a terminal run: the new run (PENDING) starts with the steps it reuses SUCCEEDED
 * (attempts 0, the original's output), and the others to run again.
 */
export async function rerunRun(
  client: ForgeClient,
  id: string,
  options: { fromStep?: string; json: boolean },
  io: Output,
): Promise<number> {
  const data = await client.request<{ rerunRun: RunJson }>(
    `mutation RerunRun($id: ID!, $fromStep: String) { rerunRun(id: $id, fromStep: $fromStep) { ${FULL} } }`,
    { id, fromStep: options.fromStep ?? null },
  );
  const run = data.rerunRun;
  if (options.json) {
    io.out.write(`${json(run)}\n`);
    return 0;
  }
  const reused = run.steps.filter((s) => s.status === "SUCCEEDED" && s.attempts === 0).map((s) => s.stepId);
  const again = run.steps.filter((s) => !reused.includes(s.stepId)).map((s) => s.stepId);
  io.out.write(
    `${record([
      ["id", run.id],
      ["status", run.status],
      ["rerun of", run.rerunOf],
      ["reused", reused.length > 0 ? reused.join(", ") : null],
      ["to run", again.length > 0 ? again.join(", ") : null],
    ])}\n`,
  );
  return 0;
}
