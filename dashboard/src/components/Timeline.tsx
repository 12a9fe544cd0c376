import { memo, useEffect, useState } from "react";
import type { StepState, StepStatus } from "../operations.ts";
import { formatDuration } from "./Status.tsx";

/**
 * The steps' start and end on one time axis (a Gantt chart, as Dagster draws a run), from
 * the first start to the last end, or to now while the run goes on.
 */
export function Timeline({ steps, live, onSelect }: { steps: readonly StepState[]; live: boolean; onSelect: (stepId: string) => void }) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!live) return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [live]);
  const started = steps.filter((s) => s.startedAt !== null).sort((a, b) => (a.startedAt as string).localeCompare(b.startedAt as string));
  if (started.length === 0) return <p className="muted">No step has started yet.</p>;
  const from = Date.parse(started[0]?.startedAt as string);
  const until = Math.max(from + 1, ...started.map((s) => (s.finishedAt ? Date.parse(s.finishedAt) : live ? now : from)));
  const span = until - from;
  return (
    <div className="timeline">
      <div className="axis muted">
        <span>0</span>
        <span>{formatDuration(span)}</span>
      </div>
      {started.map((step) => {
        const start = Date.parse(step.startedAt as string) - from;
        const end = (step.finishedAt ? Date.parse(step.finishedAt) : live ? now : Date.parse(step.startedAt as string)) - from;
        return (
          <Bar
            key={step.id}
            stepId={step.stepId}
            status={step.status}
            left={(start / span) * 100}
            width={Math.max(0.3, ((end - start) / span) * 100)}
            title={`${step.stepId}: ${formatDuration(end - start)}`}
            onSelect={onSelect}
          />
        );
      })}
    </div>
  );
}

const Bar = memo(function Bar(props: {
  stepId: string;
  status: StepStatus;
  left: number;
  width: number;
  title: string;
  onSelect: (stepId: string) => void;
}) {
  return (
    <button type="button" className="bar-row" onClick={() => props.onSelect(props.stepId)} title={props.title}>
      <span className="bar-label mono">{props.stepId}</span>
      <span className="bar-track">
        <span className={`bar s-${props.status}`} style={{ left: `${props.left}%`, width: `${props.width}%` }} />
      </span>
    </button>
  );
});
