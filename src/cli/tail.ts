import { MultiBar, Presets } from "cli-progress";
import { ApiError, apiError, CliError, EXIT, type ForgeClient, NetworkError, networkReason } from "./client.ts";
import { brief } from "./format.ts";

/**
 * `forge runs tail`: follows a run's events over graphql-ws until its terminal event, and
 * resolves to the exit code that reports how the run ended (0 succeeded, 1 failed, 2
 * cancelled). A dropped connection is resumed from the last seq seen, so that no event is
 * missed or shown twice (the runEvents subscription sends exactly the events after it).
 */

export interface RunEventJson {
  id: string;
  runId: string;
  seq: number;
  type: string;
  stepId: string | null;
  data: unknown;
  createdAt: string;
}

export interface TailOptions {
  /** Print each event as one JSON line instead of step results. */
  json: boolean;
  /** Draw a progress bar (stdout is a terminal). */
  progressBar: boolean;
  /** How long to keep trying to reconnect once the connection is lost. */
  retryForMs: number;
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

const SUBSCRIPTION = `subscription Tail($runId: ID!, $afterSeq: Int!) {
  runEvents(runId: $runId, afterSeq: $afterSeq) { id runId seq type stepId data createdAt }
}`;

const RUN_STEPS = `query TailSteps($id: ID!) { run(id: $id) { id status steps { stepId status output error } } }`;

/** Events after which a step's result is known (it counts as done on the progress bar). */
const STEP_RESULTS: Record<string, string> = {
  step_succeeded: "succeeded",
  // A re-run's step that keeps the original's output: done from the start.
  step_reused: "reused",
  step_failed: "failed",
  step_skipped: "skipped",
  step_cancelled: "cancelled",
};

const RUN_RESULTS: Record<string, { status: string; exitCode: number }> = {
  run_succeeded: { status: "SUCCEEDED", exitCode: EXIT.ok },
  run_failed: { status: "FAILED", exitCode: EXIT.failure },
  run_cancelled: { status: "CANCELLED", exitCode: EXIT.cancelled },
};

/** graphql-ws close codes after which reconnecting cannot help (the server refused this client). */
const FATAL_CLOSE_CODES = new Set([4400, 4401, 4403, 4406, 4409, 4499]);

/** The first reconnect waits this long, doubling up to RECONNECT_MAX_MS: quick after a blip, gentle on a server that is down. */
const RECONNECT_FIRST_MS = 100;
/** A connection up this long without failing ends a failure streak. */
const STABLE_MS = 10_000;
const RECONNECT_MAX_MS = 2000;

type StepLine = { stepId: string; status: string; output: unknown; error: string | null };

export async function tailRun(client: ForgeClient, runId: string, options: TailOptions): Promise<number> {
  const first = await client.request<{ run: { steps: StepLine[] } | null }>(RUN_STEPS, { id: runId });
  if (!first.run) throw new ApiError("NOT_FOUND", `run "${runId}" does not exist`);
  const total = first.run.steps.length;
  const view = options.json ? jsonView(options.out) : options.progressBar ? barView(options.out, total) : lineView(options.out, total);

  let lastSeq = 0;
  let done = 0;
  let outcome: { status: string; exitCode: number } | null = null;

  // Outputs of the steps that had succeeded at the last look: the events of one tick come in a
  // burst, and one query answers for all of them.
  const outputs = new Map<string, unknown>();
  const outputOf = async (stepId: string): Promise<unknown> => {
    if (!outputs.has(stepId)) {
      const now = await client.request<{ run: { steps: StepLine[] } | null }>(RUN_STEPS, { id: runId });
      for (const step of now.run?.steps ?? []) if (step.status === "SUCCEEDED") outputs.set(step.stepId, step.output);
    }
    return outputs.get(stepId);
  };

  // An event counts as seen once it is shown: if the connection breaks before (while its
  // output is fetched), the resumed subscription sends it again.
  const handle = async (event: RunEventJson) => {
    const counted = done + (STEP_RESULTS[event.type] ? 1 : 0);
    if (options.json) view.event(event, counted);
    else if (event.type === "step_succeeded" && event.stepId) view.event(event, counted, await outputOf(event.stepId));
    else view.event(event, counted);
    done = counted;
    lastSeq = event.seq;
  };

  let failingSince: number | null = null;
  let delay = RECONNECT_FIRST_MS;
  try {
    while (!outcome) {
      // A failure streak ends with an event, or with a connection that stayed up for
      // STABLE_MS: one the server accepts and then fails at once (its database is down) is
      // part of the streak, so --retry-for and the backoff still hold.
      let connectedAt: number | null = null;
      const ws = client.webSocket({
        connected: () => {
          connectedAt = Date.now();
        },
      });
      try {
        const events = ws.iterate<{ runEvents: RunEventJson }>({ query: SUBSCRIPTION, variables: { runId, afterSeq: lastSeq } });
        for await (const result of events) {
          if (result.errors && result.errors.length > 0) throw apiError(result.errors);
          const event = result.data?.runEvents;
          if (!event) continue;
          failingSince = null;
          delay = RECONNECT_FIRST_MS;
          await handle(event);
          outcome = RUN_RESULTS[event.type] ?? null;
          if (outcome) break;
        }
        // Completed without a terminal event (the server went away cleanly): resume.
        if (!outcome) throw new Error("the subscription ended before the run did");
      } catch (error) {
        const fatal = fatalError(error, client.url);
        if (fatal) throw fatal;
        const reason = disconnectReason(error);
        if (connectedAt !== null && Date.now() - connectedAt >= STABLE_MS) {
          failingSince = null;
          delay = RECONNECT_FIRST_MS;
        }
        failingSince ??= Date.now();
        if (Date.now() - failingSince > options.retryForMs) throw new NetworkError(client.url.replace(/^http/, "ws"), reason);
        view.notice(`forge: connection lost (${reason}); resuming after seq ${lastSeq}`, options.err);
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, RECONNECT_MAX_MS);
      } finally {
        await ws.dispose();
      }
    }
  } finally {
    view.stop();
  }
  if (!options.json) options.out.write(`run ${runId} ${outcome.status}: ${done}/${total} steps done\n`);
  return outcome.exitCode;
}

/** An error no reconnect can mend (the API refused the subscription, the server refused this client), or null. */
function fatalError(error: unknown, url: string): CliError | null {
  // The step output's query could not reach the server either: resume like the subscription.
  if (error instanceof NetworkError) return null;
  // The server's database is restarting: what the API asks clients to retry.
  if (error instanceof ApiError && error.code === "SERVICE_UNAVAILABLE") return null;
  if (error instanceof CliError) return error;
  // graphql-ws rejects with the server's `error` message: a list of GraphQL errors.
  if (Array.isArray(error)) return apiError(error);
  const code = closeCode(error);
  if (code === 4403) return new ApiError("FORBIDDEN", closeReasonOf(error) || "the server refused the token");
  if (code !== null && FATAL_CLOSE_CODES.has(code)) {
    return new CliError(`${url.replace(/^http/, "ws")} closed the connection: ${code} ${closeReasonOf(error)}`.trim());
  }
  return null;
}

function closeCode(error: unknown): number | null {
  if (typeof error === "object" && error !== null && "code" in error && typeof error.code === "number") return error.code;
  return null;
}

function closeReasonOf(error: unknown): string {
  if (typeof error === "object" && error !== null && "reason" in error && typeof error.reason === "string") return error.reason;
  return "";
}

function disconnectReason(error: unknown): string {
  const code = closeCode(error);
  if (code !== null) return `closed with ${code}${closeReasonOf(error) ? ` ${closeReasonOf(error)}` : ""}`;
  // ws reports a failed connection as an ErrorEvent whose `error` is the system error.
  if (typeof error === "object" && error !== null && "error" in error) return networkReason(error.error);
  return networkReason(error);
}

interface View {
  event(event: RunEventJson, done: number, output?: unknown): void;
  notice(line: string, err: NodeJS.WritableStream): void;
  stop(): void;
}

/** One line for each step result, and for retries and waits: what a person follows. */
export function stepLine(event: RunEventJson, output?: unknown): string | null {
  const data = (event.data ?? {}) as Record<string, unknown>;
  const step = event.stepId ?? "";
  const attempt = typeof data.attempt === "number" ? ` (attempt ${data.attempt})` : "";
  switch (event.type) {
    case "step_succeeded":
      return `succeeded  ${step}${attempt}${output === undefined || output === null ? "" : `: ${brief(output, 100)}`}`;
    case "step_reused":
      return `reused     ${step}${typeof data.fromRunId === "string" ? ` (from run ${data.fromRunId})` : ""}`;
    case "step_failed":
      return `failed     ${step}${attempt}: ${String(data.error ?? "no error given")}`;
    case "step_skipped":
      return `skipped    ${step}: ${String(data.reason ?? "a dependency did not succeed")}`;
    case "step_cancelled":
      return `cancelled  ${step}`;
    case "step_retrying":
      return `retrying   ${step}${attempt} failed: ${String(data.error ?? "")}; next attempt at ${String(data.nextAttemptAt ?? "-")}`;
    case "step_waiting":
      return `waiting    ${step}${data.until ? ` until ${String(data.until)}` : ""}`;
    default:
      return null;
  }
}

/** Plain lines with the count of steps done: what a log file or a pipe gets. */
function lineView(out: NodeJS.WritableStream, total: number): View {
  return {
    event(event, done, output) {
      const line = stepLine(event, output);
      if (line) out.write(`[${done}/${total}] ${line}\n`);
    },
    notice: (line, err) => err.write(`${line}\n`),
    stop() {},
  };
}

/** A progress bar of steps done out of all, with each step's line printed above it. */
function barView(out: NodeJS.WritableStream, total: number): View {
  const bars = new MultiBar(
    { stream: out as NodeJS.WriteStream, format: " {bar} {value}/{total} steps", hideCursor: true, clearOnComplete: false },
    Presets.shades_classic,
  );
  const bar = bars.create(total, 0);
  return {
    event(event, done, output) {
      const line = stepLine(event, output);
      if (line) bars.log(`${line}\n`);
      bar.update(done);
      // Drawn now, not at the bar's next frame: a line logged just before stop() would be lost.
      bars.update();
    },
    // A notice goes above the bar too (stderr would tear it when both are the terminal).
    notice: (line) => {
      bars.log(`${line}\n`);
      bars.update();
    },
    stop: () => {
      bars.update();
      bars.stop();
    },
  };
}

/** Every event as one JSON line (NDJSON), for scripts. */
function jsonView(out: NodeJS.WritableStream): View {
  return {
    event: (event) => out.write(`${JSON.stringify(event)}\n`),
    notice: (line, err) => err.write(`${line}\n`),
    stop() {},
  };
}
