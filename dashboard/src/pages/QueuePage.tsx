import { useCallback, useEffect, useMemo, useState } from "react";
import { useClient, useQuery } from "urql";
import { ErrorText } from "../components/ErrorText.tsx";
import { Time } from "../components/Status.tsx";
import { TickButton } from "../components/TickButton.tsx";
import { refetch, serialized, useAllEvents } from "../live.ts";
import { WORKER_STATUS } from "../operations.ts";
import { useToken } from "../token.ts";

/** A worker's heartbeat and the queue move without events of their own: read again this often. */
const POLL_MS = 2000;

interface LaneDepth {
  lane: string;
  depth: number;
  oldestAgeSeconds: number;
}

/**
 * The worker and the queue: `workerStatus` (admin), and the depth of each lane from the
 * `forge_queue_depth` and `forge_queue_oldest_age_seconds` gauges of GET /metrics, which the
 * GraphQL schema does not break down by lane. Both are read again on every run event and
 * every POLL_MS.
 */
export function QueuePage() {
  const client = useClient();
  const { token } = useToken();
  const [{ data, error }] = useQuery({ query: WORKER_STATUS, variables: {}, pause: !token });
  const [lanes, setLanes] = useState<LaneDepth[] | null>(null);
  const [lanesError, setLanesError] = useState<string | null>(null);

  const readLanes = useCallback(async () => {
    const response = await fetch("/metrics", { headers: token ? { authorization: `Bearer ${token}` } : {} });
    const text = await response.text();
    if (!response.ok) {
      setLanesError(reasonOf(text) ?? `${response.status} ${response.statusText}`);
      return;
    }
    setLanesError(null);
    setLanes(parseLanes(text));
  }, [token]);

  const refresh = useMemo(
    () => serialized(() => Promise.all([token ? refetch(client, WORKER_STATUS, {}) : null, readLanes().catch(() => {})])),
    [client, token, readLanes],
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
          {lanesError && (
            <p className="error" role="alert">
              /metrics refused: {lanesError}
            </p>
          )}
          {lanes && lanes.length === 0 && <p className="muted">No run is due in any lane.</p>}
          {lanes && lanes.length > 0 && (
            <table className="lanes">
              <thead>
                <tr>
                  <th>Lane</th>
                  <th>Due runs</th>
                  <th>Oldest waits</th>
                </tr>
              </thead>
              <tbody>
                {lanes.map((lane) => (
                  <tr key={lane.lane} data-lane={lane.lane}>
                    <td>{lane.lane}</td>
                    <td>{lane.depth}</td>
                    <td>{lane.oldestAgeSeconds.toFixed(1)} s</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      </div>
    </section>
  );
}

/** The reason of a JSON refusal from an operations route ({"status":"forbidden","reason":...}). */
function reasonOf(body: string): string | null {
  try {
    const parsed = JSON.parse(body) as { reason?: unknown };
    return typeof parsed.reason === "string" ? parsed.reason : null;
  } catch {
    return null;
  }
}

const SAMPLE = /^(forge_queue_depth|forge_queue_oldest_age_seconds)\{lane="((?:[^"\\]|\\.)*)"\} (\S+)$/;

/** The per-lane queue gauges of a Prometheus text exposition, deepest lane first. */
export function parseLanes(exposition: string): LaneDepth[] {
  const lanes = new Map<string, LaneDepth>();
  for (const line of exposition.split("\n")) {
    const match = SAMPLE.exec(line);
    if (!match) continue;
    const [, name, quoted, value] = match as unknown as [string, string, string, string];
    const lane = quoted.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    const entry = lanes.get(lane) ?? { lane, depth: 0, oldestAgeSeconds: 0 };
    if (name === "forge_queue_depth") entry.depth = Number(value);
    else entry.oldestAgeSeconds = Number(value);
    lanes.set(lane, entry);
  }
  return [...lanes.values()].filter((l) => l.depth > 0).sort((a, b) => b.depth - a.depth || a.lane.localeCompare(b.lane));
}
