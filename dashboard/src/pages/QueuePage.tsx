import { useEffect, useMemo } from "react";
import { useClient, useQuery } from "urql";
import { ErrorText } from "../components/ErrorText.tsx";
import { PausesPanel } from "../components/PausesPanel.tsx";
import { RetentionForm } from "../components/RetentionForm.tsx";
import { Time } from "../components/Status.tsx";
import { TickButton } from "../components/TickButton.tsx";
import { refetch, serialized, useAllEvents } from "../live.ts";
import { PAUSES, WORKER_STATUS } from "../operations.ts";
import { useToken } from "../token.ts";

/** A worker's heartbeat and the queue move without events of their own: read again this often. */
const POLL_MS = 2000;

/**
 * The worker and the queue, from `workerStatus` (admin): the worker this process reports, the
 * due runs of each lane and every live worker; then the pauses in force (`pauses`, admin) and
 * the retention form. Read again on every run event and every POLL_MS (heartbeats, and pauses
 * made elsewhere, move without events).
 */
export function QueuePage() {
  const client = useClient();
  const { token } = useToken();
  const [{ data, error }] = useQuery({ query: WORKER_STATUS, variables: {}, pause: !token });
  const [pauses] = useQuery({ query: PAUSES, variables: {}, pause: !token });
  const refresh = useMemo(
    () =>
      serialized(() => (token ? Promise.all([refetch(client, WORKER_STATUS, {}), refetch(client, PAUSES, {})]) : Promise.resolve(null))),
    [client, token],
  );
  useEffect(() => {
    refresh();
    const timer = setInterval(refresh, POLL_MS);
    return () => clearInterval(timer);
  }, [refresh]);
  useAllEvents(refresh, () => {}, refresh);

  const status = data?.workerStatus;
  return (
    <section>
      <div className="title-row">
        <h1>Queue and workers</h1>
        <TickButton />
      </div>
      <div className="run-grid">
        <div className="panel">
          <h2>Worker</h2>
          {!token && <p className="muted">workerStatus is an admin query: enter the admin token to see it.</p>}
          <ErrorText error={error} what="workerStatus refused" />
          {status && (
            <dl className="facts" data-worker={status.workerId ?? "none"}>
              <dt>Enabled</dt>
              <dd>{status.enabled ? "yes" : "no"}</dd>
              <dt>Running</dt>
              <dd>
                <span className={`badge ${status.running ? "s-SUCCEEDED" : "s-CANCELLED"}`}>
                  {status.running ? "running" : "not running"}
                </span>
              </dd>
              <dt>Worker id</dt>
              <dd className="mono">{status.workerId ?? "no live worker"}</dd>
              <dt>Ticks</dt>
              <dd>{status.ticks}</dd>
              <dt>Last tick</dt>
              <dd>
                <Time at={status.lastTickAt} />
              </dd>
              <dt>Queue depth</dt>
              <dd data-field="queueDepth">{status.queueDepth}</dd>
              <dt>Oldest queued</dt>
              <dd>
                <Time at={status.oldestQueuedAt} />
              </dd>
            </dl>
          )}
        </div>
        <div className="panel">
          <h2>Lanes</h2>
          {status && status.lanes.length === 0 && <p className="muted">No run is due in any lane.</p>}
          {status && status.lanes.length > 0 && (
            <table className="lanes">
              <thead>
                <tr>
                  <th>Lane</th>
                  <th>Due runs</th>
                  <th>Oldest due since</th>
                </tr>
              </thead>
              <tbody>
                {[...status.lanes]
                  .sort((a, b) => b.depth - a.depth || a.lane.localeCompare(b.lane))
                  .map((lane) => (
                    <tr key={lane.lane} data-lane={lane.lane}>
                      <td>{lane.lane}</td>
                      <td>{lane.depth}</td>
                      <td>
                        <Time at={lane.oldestQueuedAt} />
                      </td>
                    </tr>
                  ))}
              </tbody>
            </table>
          )}
        </div>
        <div className="panel">
          <h2>Live workers</h2>
          {status && status.workers.length === 0 && <p className="muted">No worker has a recent heartbeat.</p>}
          {status && status.workers.length > 0 && (
            <table className="workers">
              <thead>
                <tr>
                  <th>Worker</th>
                  <th>Started</th>
                  <th>Heartbeat</th>
                  <th>Ticks</th>
                  <th>Last tick</th>
                </tr>
              </thead>
              <tbody>
                {status.workers.map((worker) => (
                  <tr key={worker.id} data-worker-row={worker.id}>
                    <td className="mono">{worker.id}</td>
                    <td>
                      <Time at={worker.startedAt} />
                    </td>
                    <td>
                      <Time at={worker.heartbeatAt} />
                    </td>
                    <td>{worker.ticks}</td>
                    <td>
                      <Time at={worker.lastTickAt} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
        {token && <PausesPanel pauses={pauses} reload={refresh} />}
        {token && <RetentionForm />}
      </div>
    </section>
  );
}
