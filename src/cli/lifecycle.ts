import { CliError, type ForgeClient, UsageError } from "./client.ts";
import { json, record, table, time } from "./format.ts";
import type { Output } from "./runs.ts";

/**
 * `forge runs cancel-matching|rerun-matching`, `forge pause|resume`, `forge pauses list` and
 * `forge prune`: the admin operations on many runs at once. Each refuses what it cannot mean
 * (an empty filter, a pause of nothing) before any request.
 */

export interface FilterOptions {
  id?: string[];
  status?: string[];
  jobType?: string;
  lane?: string;
  createdAfter?: string;
  createdBefore?: string;
}

interface BulkResultJson {
  matched: number;
  affected: number;
  runIds: string[];
  dryRun: boolean;
}

/** The API's RunFilter from the filter options; refused when it would match every run. */
export function runFilter(options: FilterOptions): Record<string, unknown> {
  const filter = {
    ...(options.id === undefined ? {} : { ids: options.id }),
    ...(options.status === undefined ? {} : { status: options.status }),
    ...(options.jobType === undefined ? {} : { jobType: options.jobType }),
    ...(options.lane === undefined ? {} : { lane: options.lane }),
    ...(options.createdAfter === undefined ? {} : { createdAfter: options.createdAfter }),
    ...(options.createdBefore === undefined ? {} : { createdBefore: options.createdBefore }),
  };
  if (Object.keys(filter).length === 0) {
    throw new UsageError(
      "no filter given: name the runs with --id, --status, --job-type, --lane, --created-after or --created-before (an empty filter would match every run)",
    );
  }
  if (options.createdAfter !== undefined && options.createdBefore !== undefined && options.createdAfter >= options.createdBefore) {
    throw new UsageError(
      `option '--created-after' (${time(options.createdAfter)}) is not before option '--created-before' (${time(options.createdBefore)}): no run could match`,
    );
  }
  return filter;
}

const BULK = {
  cancel: {
    mutation:
      "mutation CancelRuns($filter: RunFilter!, $dryRun: Boolean!) { cancelRuns(filter: $filter, dryRun: $dryRun) { matched affected runIds dryRun } }",
    field: "cancelRuns",
    done: "cancelled",
    would: "would cancel",
  },
  rerun: {
    mutation:
      "mutation RerunRuns($filter: RunFilter!, $dryRun: Boolean!) { rerunRuns(filter: $filter, dryRun: $dryRun) { matched affected runIds dryRun } }",
    field: "rerunRuns",
    done: "re-run",
    would: "would re-run",
  },
} as const;

/**
 * Cancels (the runs not finished) or re-runs (the FAILED and CANCELLED ones without a re-run
 * yet) every run the filter matches, then prints how many matched, how many were changed and
 * their ids, one a line (for a re-run, the original runs' ids; `runs show` lists each one's re-runs).
 */
export async function bulkAction(
  client: ForgeClient,
  action: keyof typeof BULK,
  options: FilterOptions & { dryRun: boolean; json: boolean },
  io: Output,
): Promise<number> {
  const filter = runFilter(options);
  const { mutation, field, done, would } = BULK[action];
  const data = await client.request<Record<string, BulkResultJson>>(mutation, { filter, dryRun: options.dryRun });
  const result = data[field] as BulkResultJson;
  if (options.json) {
    io.out.write(`${json(result)}\n`);
    return 0;
  }
  const entries: Array<[string, string | number]> = [
    ["matched", result.matched],
    [result.dryRun ? would : done, result.affected],
  ];
  if (result.dryRun) entries.push(["dry run", "nothing was changed"]);
  const more = result.affected - result.runIds.length;
  const ids = result.runIds.map((id) => `${id}\n`).join("");
  io.out.write(`${record(entries)}\n${ids.length > 0 ? `\n${ids}` : ""}${more > 0 ? `(and ${more} more not listed)\n` : ""}`);
  return 0;
}

interface PauseJson {
  lane: string | null;
  jobType: string | null;
  pausedAt: string;
  reason: string | null;
}

/** What a pause holds, in words: `lane prod`, `job type deploy`, `job type deploy in lane prod`. */
function scope(lane: string | null | undefined, jobType: string | null | undefined): string {
  if (lane != null && jobType != null) return `job type ${jobType} in lane ${lane}`;
  return lane != null ? `lane ${lane}` : `job type ${jobType}`;
}

/** Pause and resume name a lane, a job type or both; neither would be no pause at all. */
function pauseTarget(options: { lane?: string; jobType?: string }, verb: string): { lane: string | null; jobType: string | null } {
  if (options.lane === undefined && options.jobType === undefined) {
    throw new UsageError(`nothing to ${verb}: give --lane, --job-type or both`);
  }
  return { lane: options.lane ?? null, jobType: options.jobType ?? null };
}

export async function listPauses(client: ForgeClient, options: { json: boolean }, io: Output): Promise<number> {
  const data = await client.request<{ pauses: PauseJson[] }>("query Pauses { pauses { lane jobType pausedAt reason } }");
  if (options.json) {
    io.out.write(`${json(data.pauses)}\n`);
    return 0;
  }
  if (data.pauses.length === 0) {
    io.out.write("nothing is paused\n");
    return 0;
  }
  // A pause without a lane (or job type) holds every one: `*`, as policies write it.
  const rows = data.pauses.map((p) => [p.lane ?? "*", p.jobType ?? "*", time(p.pausedAt), p.reason]);
  io.out.write(`${table(["LANE", "JOB TYPE", "PAUSED", "REASON"], rows)}\n`);
  return 0;
}

export async function pause(
  client: ForgeClient,
  options: { lane?: string; jobType?: string; reason?: string; json: boolean },
  io: Output,
): Promise<number> {
  const target = pauseTarget(options, "pause");
  const data = await client.request<{ pause: PauseJson }>(
    "mutation Pause($lane: String, $jobType: String, $reason: String) { pause(lane: $lane, jobType: $jobType, reason: $reason) { lane jobType pausedAt reason } }",
    { ...target, reason: options.reason ?? null },
  );
  const paused = data.pause;
  if (options.json) io.out.write(`${json(paused)}\n`);
  else {
    io.out.write(
      `paused ${scope(paused.lane, paused.jobType)} since ${time(paused.pausedAt)}${paused.reason ? ` (${paused.reason})` : ""}\n`,
    );
  }
  return 0;
}

export async function resume(
  client: ForgeClient,
  options: { lane?: string; jobType?: string; json: boolean },
  io: Output,
): Promise<number> {
  const target = pauseTarget(options, "resume");
  const data = await client.request<{ resume: boolean }>(
    "mutation Resume($lane: String, $jobType: String) { resume(lane: $lane, jobType: $jobType) }",
    target,
  );
  if (options.json) io.out.write(`${json({ ...target, resumed: data.resume })}\n`);
  // Exit 1 when there was no such pause, as kill(1) does for a process that is not there:
  // resume lifts exactly the pause with this lane and job type, so a misspelt lane, or
  // --lane alone for a pause of a lane and a job type, would otherwise report success while
  // the runs stay held. A script that only wants "not paused" can ignore the code.
  if (!data.resume) throw new CliError(`nothing was paused for ${scope(target.lane, target.jobType)} (forge pauses list shows what is)`);
  if (!options.json) io.out.write(`resumed ${scope(target.lane, target.jobType)}: its runs go on at the next tick\n`);
  return 0;
}

interface PruneResultJson {
  runs: number;
  events: number;
  artifacts: number;
  dryRun: boolean;
}

export interface PruneOptions {
  finishedBefore?: string;
  /** --older-than, in milliseconds before now. */
  olderThan?: number;
  status?: string[];
  dryRun: boolean;
  json: boolean;
}

/** Deletes terminal runs finished before an instant, with their steps, events and artifacts. */
export async function prune(client: ForgeClient, options: PruneOptions, io: Output, now: () => Date = () => new Date()): Promise<number> {
  // (commander refuses both together.) --older-than counts back from this machine's clock.
  if (options.finishedBefore === undefined && options.olderThan === undefined) {
    throw new UsageError("which runs to prune: give --finished-before <instant> or --older-than <duration>");
  }
  const finishedBefore = options.finishedBefore ?? new Date(now().getTime() - (options.olderThan as number)).toISOString();
  const data = await client.request<{ pruneRuns: PruneResultJson }>(
    "mutation Prune($finishedBefore: DateTime!, $status: [RunStatus!], $dryRun: Boolean!) { pruneRuns(finishedBefore: $finishedBefore, status: $status, dryRun: $dryRun) { runs events artifacts dryRun } }",
    { finishedBefore, status: options.status ?? null, dryRun: options.dryRun },
  );
  const result = data.pruneRuns;
  if (options.json) {
    io.out.write(`${json({ ...result, finishedBefore })}\n`);
    return 0;
  }
  const statuses = (options.status ?? ["SUCCEEDED", "FAILED", "CANCELLED"]).join(", ");
  const head = result.dryRun
    ? `would prune ${statuses} runs finished before ${time(finishedBefore)} (dry run: nothing was deleted)`
    : `pruned ${statuses} runs finished before ${time(finishedBefore)}`;
  io.out.write(
    `${head}\n${record([
      ["runs", result.runs],
      ["events", result.events],
      ["artifacts", result.artifacts],
    ])}\n`,
  );
  return 0;
}
