import { memo, useCallback, useMemo, useState } from "react";

/** Pages "Newer" can step back through: the URL holds their cursors, and stays well under a server's header limit (past them, "Newer" is the newest page). */
const MAX_BACK = 50;

import { useClient, useQuery } from "urql";
import { Link, useLocation, useSearch } from "wouter";
import { BulkActions } from "../components/BulkActions.tsx";
import { ErrorText } from "../components/ErrorText.tsx";
import { Duration, StatusBadge, Time } from "../components/Status.tsx";
import { TickButton } from "../components/TickButton.tsx";
import { WaitingCell } from "../components/Waiting.tsx";
import { refetch, serialized, useAllEvents } from "../live.ts";
import { RUN_STATUSES, RUNS, type RunFilter, type RunRow, type RunStatus, type RunsVariables } from "../operations.ts";

/** Runs per page: the API's default page. */
const PAGE_SIZE = 50;

/** Events that change what a runs row shows: its status, or why it waits (an approval, a timer, a retry's backoff). */
const ROW_EVENTS = new Set(["run_created", "run_started", "run_succeeded", "run_failed", "run_cancelled", "step_waiting", "step_retrying"]);

/**
 * The URL holds the whole view: filters, the cursor of this page (`after`) and the cursors of
 * the pages before it (`back`, oldest first), since the API pages forward only. No count of
 * runs is ever asked for: over a million runs, paging is by cursor alone.
 */
interface ListState {
  status: RunStatus | null;
  jobType: string | null;
  lane: string | null;
  after: string | null;
  back: string[];
}

function readState(search: string): ListState {
  const params = new URLSearchParams(search);
  const status = params.get("status");
  return {
    status: RUN_STATUSES.includes(status as RunStatus) ? (status as RunStatus) : null,
    jobType: params.get("jobType") || null,
    lane: params.get("lane") || null,
    after: params.get("after") || null,
    back: params.getAll("back"),
  };
}

function writeState(state: ListState): string {
  const params = new URLSearchParams();
  if (state.status) params.set("status", state.status);
  if (state.jobType) params.set("jobType", state.jobType);
  if (state.lane) params.set("lane", state.lane);
  if (state.after) params.set("after", state.after);
  for (const cursor of state.back) params.append("back", cursor);
  const query = params.toString();
  return query ? `/?${query}` : "/";
}

export function RunsPage() {
  const search = useSearch();
  const [, navigate] = useLocation();
  const state = useMemo(() => readState(search), [search]);
  const variables: RunsVariables = useMemo(
    () => ({ first: PAGE_SIZE, after: state.after, status: state.status, jobType: state.jobType, lane: state.lane }),
    [state.after, state.status, state.jobType, state.lane],
  );
  const [{ data, error, fetching }] = useQuery({ query: RUNS, variables });
  const edges = data?.runs.edges;
  const pageInfo = data?.runs.pageInfo;

  const client = useClient();
  const [liveError, setLiveError] = useState<string | null>(null);
  const refresh = useMemo(() => serialized(() => refetch(client, RUNS, variables)), [client, variables]);
  const visible = useMemo(() => new Set(edges?.map((edge) => edge.node.id)), [edges]);
  const onFirstPage = state.after === null;
  useAllEvents(
    useCallback(
      (events) => {
        // A new run lands on the first page (newest first); a status change matters where the run is shown.
        const relevant = events.some(
          (e) => ROW_EVENTS.has(e.type) && ((e.type === "run_created" && onFirstPage) || visible.has(e.runId) || state.status !== null),
        );
        if (relevant) refresh();
      },
      [refresh, visible, onFirstPage, state.status],
    ),
    setLiveError,
    refresh,
  );

  // The bulk actions act on what the filters match, on every page.
  const bulkFilter: RunFilter = useMemo(
    () => ({
      ...(state.status ? { status: [state.status] } : {}),
      ...(state.jobType ? { jobType: state.jobType } : {}),
      ...(state.lane ? { lane: state.lane } : {}),
    }),
    [state.status, state.jobType, state.lane],
  );

  const go = (next: Partial<ListState>) => navigate(writeState({ ...state, ...next }));
  // A filter change starts again at the newest run.
  const filter = (next: Partial<ListState>) => go({ ...next, after: null, back: [] });

  return (
    <section>
      <div className="title-row">
        <h1>Runs</h1>
        <TickButton />
      </div>
      <Filters state={state} onChange={filter} />
      <BulkActions filter={bulkFilter} />
      <ErrorText error={error} what="runs could not be read" />
      {liveError && (
        <p className="error" role="alert">
          live updates stopped: {liveError}
        </p>
      )}
      <table className="runs" aria-busy={fetching}>
        <thead>
          <tr>
            <th>Run</th>
            <th>Status</th>
            <th>Job type</th>
            <th>Lane</th>
            <th>Waiting</th>
            <th>Requested by</th>
            <th>Created</th>
            <th>Duration</th>
          </tr>
        </thead>
        <tbody>
          {edges?.map((edge) => (
            <RunRowView key={edge.node.id} run={edge.node} />
          ))}
        </tbody>
      </table>
      {edges && edges.length === 0 && <p className="muted">No runs match.</p>}
      <div className="pager">
        <button
          type="button"
          disabled={state.after === null}
          onClick={() => go({ after: state.back.at(-1) ?? null, back: state.back.slice(0, -1) })}
        >
          ← Newer
        </button>
        <button type="button" disabled={state.after === null} onClick={() => go({ after: null, back: [] })}>
          Newest
        </button>
        <button
          type="button"
          disabled={!pageInfo?.hasNextPage}
          onClick={() =>
            go({ after: pageInfo?.endCursor ?? null, back: state.after === null ? [] : [...state.back, state.after].slice(-MAX_BACK) })
          }
        >
          Older →
        </button>
      </div>
    </section>
  );
}

/** One row; re-rendered only when the run's own fields change. */
const RunRowView = memo(function RunRowView({ run }: { run: RunRow }) {
  return (
    <tr data-run-id={run.id} data-status={run.status}>
      <td>
        <Link href={`/runs/${encodeURIComponent(run.id)}`} className="mono">
          {run.id}
        </Link>
      </td>
      <td>
        <StatusBadge status={run.status} />
      </td>
      <td>{run.jobType}</td>
      <td>{run.lane}</td>
      <td>
        <WaitingCell waiting={run.waiting} />
      </td>
      <td>{run.requestedBy}</td>
      <td>
        <Time at={run.createdAt} />
      </td>
      <td>
        <Duration startedAt={run.startedAt} finishedAt={run.finishedAt} />
      </td>
    </tr>
  );
});

/** Status, job type and lane; the text fields apply on Enter or when they lose focus. */
function Filters({ state, onChange }: { state: ListState; onChange(next: Partial<ListState>): void }) {
  return (
    <form
      className="filters"
      onSubmit={(event) => {
        event.preventDefault();
        const form = new FormData(event.currentTarget);
        onChange({ jobType: String(form.get("jobType") ?? "").trim() || null, lane: String(form.get("lane") ?? "").trim() || null });
      }}
    >
      <label>
        Status{" "}
        <select name="status" value={state.status ?? ""} onChange={(e) => onChange({ status: (e.target.value as RunStatus) || null })}>
          <option value="">any</option>
          {RUN_STATUSES.map((status) => (
            <option key={status} value={status}>
              {status}
            </option>
          ))}
        </select>
      </label>
      <label>
        Job type <input name="jobType" defaultValue={state.jobType ?? ""} key={`j${state.jobType}`} />
      </label>
      <label>
        Lane <input name="lane" defaultValue={state.lane ?? ""} key={`l${state.lane}`} />
      </label>
      <button type="submit">Filter</button>
    </form>
  );
}
