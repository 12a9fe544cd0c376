/*
 * The filter of the bulk actions (API.md, "Bulk actions"): which runs cancelRuns and
 * rerunRuns act on. Checked here once, so both refuse the same inputs the same way.
 */
import { InvalidInput } from "../errors.ts";
import { checkName } from "./run-input.ts";
import { RUN_STATUSES, type RunStatus } from "./status.ts";

export interface RunFilterInput {
  ids?: readonly string[] | null;
  status?: readonly RunStatus[] | null;
  jobType?: string | null;
  lane?: string | null;
  createdAfter?: Date | null;
  createdBefore?: Date | null;
}

/** A checked filter: every condition it holds is set, and at least one is. */
export interface BulkFilter {
  ids: string[] | null;
  status: RunStatus[] | null;
  jobType: string | null;
  lane: string | null;
  /** Runs created strictly after this instant. */
  createdAfter: Date | null;
  /** Runs created strictly before this instant. */
  createdBefore: Date | null;
}

/** Most ids one filter may list: enough for a page of the dashboard many times over, bounded so a request stays small. */
export const MAX_FILTER_IDS = 10_000;

/**
 * Checks a filter; the error names the field (filter.ids[3], filter.status, ...). A filter
 * with no condition is refused: acting on every run must be asked for in so many words
 * (a status list naming every status, say), never by leaving the filter empty.
 */
export function checkRunFilter(input: RunFilterInput): BulkFilter {
  const filter: BulkFilter = {
    ids: null,
    status: null,
    jobType: input.jobType == null ? null : checkName("filter.jobType", input.jobType),
    lane: input.lane == null ? null : checkName("filter.lane", input.lane),
    createdAfter: input.createdAfter ?? null,
    createdBefore: input.createdBefore ?? null,
  };
  if (input.ids != null) {
    if (input.ids.length === 0) throw new InvalidInput("filter.ids", "must list at least one id (leave it out to match any id)");
    if (input.ids.length > MAX_FILTER_IDS) throw new InvalidInput("filter.ids", `must list at most ${MAX_FILTER_IDS} ids`);
    filter.ids = [...new Set(input.ids.map((id, i) => checkName(`filter.ids[${i}]`, id)))];
  }
  if (input.status != null) {
    if (input.status.length === 0) throw new InvalidInput("filter.status", "must list at least one status (leave it out to match any)");
    input.status.forEach((s, i) => {
      if (!RUN_STATUSES.includes(s)) throw new InvalidInput(`filter.status[${i}]`, `must be one of ${RUN_STATUSES.join(", ")}`);
    });
    filter.status = [...new Set(input.status)];
  }
  if (filter.createdAfter && filter.createdBefore && filter.createdAfter >= filter.createdBefore) {
    throw new InvalidInput("filter.createdBefore", "must be later than filter.createdAfter (no run can match)");
  }
  const empty =
    filter.ids === null &&
    filter.status === null &&
    filter.jobType === null &&
    filter.lane === null &&
    filter.createdAfter === null &&
    filter.createdBefore === null;
  if (empty) {
    throw new InvalidInput(
      "filter",
      "must set at least one of ids, status, jobType, lane, createdAfter, createdBefore (an empty filter would match every run)",
    );
  }
  return filter;
}
