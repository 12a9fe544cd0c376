import { memo, useState } from "react";
import type { RunEvent } from "../operations.ts";

/** The latest events are shown at first: a 1,000-step run has thousands. */
const SHOWN_AT_FIRST = 200;

/** The run's history as Temporal shows one: every event in seq order, with its data. */
export function EventLog({ events }: { events: readonly RunEvent[] }) {
  const [all, setAll] = useState(false);
  const shown = all ? events : events.slice(-SHOWN_AT_FIRST);
  return (
    <div className="event-log">
      {shown.length < events.length && (
        <p className="muted">
          Showing the latest {shown.length} of {events.length} events.{" "}
          <button type="button" onClick={() => setAll(true)}>
            Show all
          </button>
        </p>
      )}
      <table>
        <thead>
          <tr>
            <th>Seq</th>
            <th>Time</th>
            <th>Type</th>
            <th>Step</th>
            <th>Data</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((event) => (
            <EventRow key={event.seq} event={event} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

const EventRow = memo(function EventRow({ event }: { event: RunEvent }) {
  return (
    <tr data-seq={event.seq} className={`ev ev-${event.type}`}>
      <td>{event.seq}</td>
      <td className="mono">{event.createdAt.slice(11, 23)}</td>
      <td>{event.type}</td>
      <td className="mono">{event.stepId ?? ""}</td>
      <td className="mono data">{event.data === null || event.data === undefined ? "" : JSON.stringify(event.data)}</td>
    </tr>
  );
});
