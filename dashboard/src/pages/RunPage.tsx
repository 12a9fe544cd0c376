import { useCallback, useMemo, useState } from "react";
import { useClient, useMutation, useQuery } from "urql";
import { Link } from "wouter";
import { ErrorText } from "../components/ErrorText.tsx";
import { EventLog } from "../components/EventLog.tsx";
import { RerunForm } from "../components/RerunForm.tsx";
import { RunGraph } from "../components/RunGraph.tsx";
import { Duration, StatusBadge, Time } from "../components/Status.tsx";
import { StepPanel } from "../components/StepPanel.tsx";
import { TickButton } from "../components/TickButton.tsx";
import { Timeline } from "../components/Timeline.tsx";
import { WaitingFacts } from "../components/Waiting.tsx";
import { errorText } from "../errors.ts";
import { refetch, serialized } from "../live.ts";
import { CANCEL_RUN, RUN, type RunDetail, type StepState } from "../operations.ts";
import { useRunEvents } from "../runEvents.ts";
import { useToken } from "../token.ts";

const TERMINAL = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);

/** How often a run's whole record may be read again while its events stream in. */
const RECORD_REFRESH_MS = 500;

/**
 * One run, as Dagster lays one out: the DAG, the timeline and the selected step side by side,
 * the event log below. The run's record comes from `run(id)`; its `runEvents` move the step
 * colours at once and ask for the record again (attempts, outputs, errors, artifacts).
 */
export function RunPage({ id }: { id: string }) {
  const client = useClient();
  const [{ data, error }] = useQuery({ query: RUN, variables: { id } });
  // Step colours follow the events at once; the rest of the record (attempts, outputs, errors,
  // artifacts, times) is read again at most this often while events keep coming.
  const refresh = useMemo(() => serialized(() => refetch(client, RUN, { id }), RECORD_REFRESH_MS), [client, id]);
  const log = useRunEvents(id, refresh);
  const run = data?.run;

  if (error && !run) return <ErrorText error={error} what="the run could not be read" />;
  if (!data) return <p className="muted">Loading…</p>;
  if (!run) return <p className="error">There is no run {id}.</p>;
  return <RunView run={run} log={log} />;
}

function RunView({ run, log }: { run: RunDetail; log: ReturnType<typeof useRunEvents> }) {
  const [selected, setSelected] = useState<string | null>(null);
  const { stepStatus } = log;
  // An event newer than the record wins: the record catches up a moment later.
  const statusOf = useCallback(
    (stepId: string) => {
      const latest = stepStatus.get(stepId);
      const step = stepById(run.steps, stepId);
      return latest && (latest.seq > run.eventCount || !step) ? latest.status : (step?.status ?? "PENDING");
    },
    [stepStatus, run.steps, run.eventCount],
  );
  const chosen = stepById(run.steps, selected ?? defaultStep(run.steps));
  const runEnded = TERMINAL.has(run.status);
  return (
    <section className="run" data-run-status={run.status}>
      <div className="title-row">
        <h1>
          Run <span className="mono">{run.id}</span> <StatusBadge status={run.status} />
        </h1>
        <RunActions run={run} />
      </div>
      <RunFacts run={run} />
      {log.error && !log.ended && (
        <p className="error" role="alert">
          live updates: {log.error}
        </p>
      )}
      <div className="run-grid">
        <div className="panel graph-panel">
          <h2>Graph</h2>
          <RunGraph steps={run.steps} statusOf={statusOf} selected={chosen?.stepId ?? null} onSelect={setSelected} />
        </div>
        <div className="panel">
          <h2>Step</h2>
          {chosen ? (
            <StepPanel runId={run.id} step={chosen} artifacts={run.artifacts.filter((a) => a.stepId === chosen.stepId)} />
          ) : (
            <p className="muted">Select a step in the graph.</p>
          )}
        </div>
        <div className="panel wide">
          <h2>Timeline</h2>
          <Timeline steps={run.steps} live={!runEnded} onSelect={setSelected} />
        </div>
        <div className="panel wide">
          <h2>
            Events <span className="muted">({log.events.length})</span>
          </h2>
          <EventLog events={log.events} />
        </div>
      </div>
    </section>
  );
}

const stepIndexes = new WeakMap<readonly StepState[], Map<string, StepState>>();

/** Steps by id, indexed once per steps list: the graph asks for each of a thousand nodes. */
function stepById(steps: readonly StepState[], stepId: string | null): StepState | undefined {
  if (stepId === null) return undefined;
  let index = stepIndexes.get(steps);
  if (!index) {
    index = new Map(steps.map((s) => [s.stepId, s]));
    stepIndexes.set(steps, index);
  }
  return index.get(stepId);
}

/** What a reader wants to see first: a step that failed, then one that waits, then the first. */
function defaultStep(steps: readonly StepState[]): string | null {
  return (steps.find((s) => s.status === "FAILED") ?? steps.find((s) => s.status === "WAITING") ?? steps[0])?.stepId ?? null;
}

function RunFacts({ run }: { run: RunDetail }) {
  return (
    <dl className="facts run-facts">
      {run.waiting && (
        <>
          <dt>Waiting</dt>
          <dd className="span-all">
            <WaitingFacts waiting={run.waiting} />
          </dd>
        </>
      )}
      {run.rerunOf && (
        <>
          <dt>Re-run of</dt>
          <dd className="span-all" data-field="rerunOf">
            <RunLink id={run.rerunOf} />
          </dd>
        </>
      )}
      {run.reruns.length > 0 && (
        <>
          <dt>Re-runs</dt>
          <dd className="span-all run-links" data-field="reruns">
            {run.reruns.map((id) => (
              <RunLink key={id} id={id} />
            ))}
          </dd>
        </>
      )}
      <dt>Job type</dt>
      <dd>{run.jobType}</dd>
      <dt>Lane</dt>
      <dd>{run.lane}</dd>
      <dt>Mode</dt>
      <dd>{run.mode}</dd>
      <dt>Priority</dt>
      <dd>{run.priority}</dd>
      <dt>Requested by</dt>
      <dd>{run.requestedBy}</dd>
      <dt>Created</dt>
      <dd>
        <Time at={run.createdAt} />
      </dd>
      <dt>Started</dt>
      <dd>
        <Time at={run.startedAt} />
      </dd>
      <dt>Finished</dt>
      <dd>
        <Time at={run.finishedAt} />
      </dd>
      <dt>Duration</dt>
      <dd>
        <Duration startedAt={run.startedAt} finishedAt={run.finishedAt} />
      </dd>
      <dt>Steps</dt>
      <dd>{run.steps.length}</dd>
      <dt>Lease</dt>
      <dd className="mono">{run.lease ? `${run.lease.owner} (epoch ${run.lease.epoch})` : "none"}</dd>
      <dt>Params</dt>
      <dd className="mono">{JSON.stringify(run.params)}</dd>
    </dl>
  );
}

function RunLink({ id }: { id: string }) {
  return (
    <Link href={`/runs/${encodeURIComponent(id)}`} className="mono">
      {id}
    </Link>
  );
}

/** Admin: cancel the run (while it is not finished) or re-run it (once it ended), and tick; a refusal in the API's words. */
function RunActions({ run }: { run: RunDetail }) {
  const { token } = useToken();
  const [{ fetching }, cancel] = useMutation(CANCEL_RUN);
  const [message, setMessage] = useState<string | null>(null);
  if (!token) return <p className="muted">Enter the admin token to cancel, re-run, signal or tick.</p>;
  const onCancel = async () => {
    const result = await cancel({ id: run.id });
    setMessage(result.error ? `cancel refused: ${errorText(result.error)}` : null);
  };
  return (
    <div className="actions">
      {!TERMINAL.has(run.status) && (
        <button type="button" className="danger" onClick={onCancel} disabled={fetching}>
          Cancel run
        </button>
      )}
      {TERMINAL.has(run.status) && <RerunForm run={run} />}
      <TickButton />
      {message && (
        <p className="error" role="alert">
          {message}
        </p>
      )}
    </div>
  );
}
