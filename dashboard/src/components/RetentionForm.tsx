import { type FormEvent, useState } from "react";
import { useMutation } from "urql";
import { errorText } from "../errors.ts";
import { PRUNE_RUNS, type PruneResult, type RunStatus, TERMINAL_STATUSES } from "../operations.ts";

/** What the form proposes at first: runs that finished more than this long ago. */
const DEFAULT_AGE_DAYS = 30;

/** A `datetime-local` value (the reader's time zone, to the minute) for `at`. */
function localInput(at: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T${pad(at.getHours())}:${pad(at.getMinutes())}`;
}

const counts = (result: PruneResult) => `${result.runs} run(s), ${result.events} event(s), ${result.artifacts} artifact(s)`;

/**
 * Admin: pruneRuns, which deletes runs that ended before an instant, with their steps, events
 * and artifacts. It always counts first (dryRun) and deletes only when that count is confirmed,
 * with the same instant and statuses.
 */
export function RetentionForm() {
  const [before, setBefore] = useState(() => localInput(new Date(Date.now() - DEFAULT_AGE_DAYS * 86_400_000)));
  const [statuses, setStatuses] = useState<ReadonlySet<RunStatus>>(() => new Set(TERMINAL_STATUSES));
  const [{ fetching }, prune] = useMutation(PRUNE_RUNS);
  const [preview, setPreview] = useState<{ variables: { finishedBefore: string; status: RunStatus[] }; result: PruneResult } | null>(null);
  const [outcome, setOutcome] = useState<{ ok: boolean; text: string } | null>(null);

  const change = (next: () => void) => {
    next();
    // What was counted no longer is what the form says.
    setPreview(null);
  };

  const count = async (event: FormEvent) => {
    event.preventDefault();
    setPreview(null);
    setOutcome(null);
    const at = new Date(before);
    if (before === "" || Number.isNaN(at.getTime()))
      return setOutcome({ ok: false, text: "Give the instant runs must have finished before." });
    if (statuses.size === 0) return setOutcome({ ok: false, text: "Choose at least one status." });
    const variables = { finishedBefore: at.toISOString(), status: TERMINAL_STATUSES.filter((s) => statuses.has(s)) };
    const result = await prune({ ...variables, dryRun: true });
    if (result.error) setOutcome({ ok: false, text: `prune refused: ${errorText(result.error)}` });
    else if (result.data) setPreview({ variables, result: result.data.pruneRuns });
  };

  const confirm = async () => {
    if (!preview) return;
    setPreview(null);
    const result = await prune({ ...preview.variables, dryRun: false });
    if (result.error) setOutcome({ ok: false, text: `prune refused: ${errorText(result.error)}` });
    else if (result.data) setOutcome({ ok: true, text: `deleted ${counts(result.data.pruneRuns)}` });
  };

  return (
    <div className="panel wide" data-panel="retention">
      <h2>Retention</h2>
      <form className="retention" onSubmit={count}>
        <label>
          Finished before{" "}
          <input type="datetime-local" name="finishedBefore" value={before} onChange={(e) => change(() => setBefore(e.target.value))} />
        </label>
        <fieldset>
          <legend>Status</legend>
          {TERMINAL_STATUSES.map((status) => (
            <label key={status}>
              <input
                type="checkbox"
                name="status"
                value={status}
                checked={statuses.has(status)}
                onChange={(e) =>
                  change(() => {
                    const next = new Set(statuses);
                    if (e.target.checked) next.add(status);
                    else next.delete(status);
                    setStatuses(next);
                  })
                }
              />{" "}
              {status}
            </label>
          ))}
        </fieldset>
        <button type="submit" disabled={fetching}>
          Count runs to prune
        </button>
      </form>
      {preview && (
        <p role="status" data-field="prune-preview">
          Would delete {counts(preview.result)}.{" "}
          {preview.result.runs > 0 && (
            <button type="button" className="danger" onClick={confirm} disabled={fetching}>
              Delete them
            </button>
          )}
        </p>
      )}
      {outcome && (
        <p className={outcome.ok ? "muted" : "error"} role={outcome.ok ? "status" : "alert"} data-field="prune-outcome">
          {outcome.text}
        </p>
      )}
    </div>
  );
}
