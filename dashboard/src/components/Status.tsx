import { memo, useEffect, useState } from "react";
import type { RunStatus, StepStatus } from "../operations.ts";

/** A status as a coloured badge; the colours are the graph's (styles.css, .s-<STATUS>). */
export const StatusBadge = memo(function StatusBadge({ status }: { status: RunStatus | StepStatus }) {
  return <span className={`badge s-${status}`}>{status}</span>;
});

/** The time now, every `everyMs` while `live`: only running rows tick. */
function useNow(live: boolean, everyMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!live) return;
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [live, everyMs]);
  return now;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** From start to finish, or to now while it runs; blank before it started. */
export const Duration = memo(function Duration({ startedAt, finishedAt }: { startedAt: string | null; finishedAt: string | null }) {
  const now = useNow(startedAt !== null && finishedAt === null);
  if (!startedAt) return <span className="muted">–</span>;
  const end = finishedAt ? Date.parse(finishedAt) : now;
  return <span>{formatDuration(Math.max(0, end - Date.parse(startedAt)))}</span>;
});

/** A timestamp in the reader's time zone, with the exact UTC instant on hover. */
export const Time = memo(function Time({ at }: { at: string | null }) {
  if (!at) return <span className="muted">–</span>;
  return (
    <time dateTime={at} title={at}>
      {new Date(at).toLocaleString()}
    </time>
  );
});
