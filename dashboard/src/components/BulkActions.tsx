import { useState } from "react";
import { useMutation } from "urql";
import { errorText } from "../errors.ts";
import { type BulkResult, CANCEL_RUNS, RERUN_RUNS, type RunFilter } from "../operations.ts";
import { useToken } from "../token.ts";

type Action = "cancel" | "rerun";

const WORDS: Record<Action, { button: string; done: string; confirm: string }> = {
  cancel: { button: "Cancel matching", done: "cancelled", confirm: "Confirm cancel" },
  rerun: { button: "Re-run matching", done: "re-run", confirm: "Confirm re-run" },
};

/** The filter is empty: the API refuses it, so that nothing acts on every run by accident. */
export function isEmptyFilter(filter: RunFilter): boolean {
  return Object.values(filter).every((value) => value === undefined || (Array.isArray(value) && value.length === 0));
}

/**
 * Admin: cancelRuns or rerunRuns over the runs the list's filters match. Each first asks with
 * dryRun (nothing changes) and says how many match and how many would be acted on; only then
 * is the action offered for real, with the same filter. The runs list's own events show the
 * runs change.
 */
export function BulkActions({ filter }: { filter: RunFilter }) {
  const { token } = useToken();
  const [{ fetching: cancelling }, cancelRuns] = useMutation(CANCEL_RUNS);
  const [{ fetching: rerunning }, rerunRuns] = useMutation(RERUN_RUNS);
  // What the preview was asked for: a different filter (the list moved on) needs a new one.
  const filterKey = JSON.stringify(filter);
  const [preview, setPreview] = useState<{ action: Action; filterKey: string; result: BulkResult } | null>(null);
  const [outcome, setOutcome] = useState<{ ok: boolean; text: string } | null>(null);
  if (!token) return null;
  const empty = isEmptyFilter(filter);
  const current = preview && preview.filterKey === filterKey ? preview : null;

  const call = async (action: Action, dryRun: boolean): Promise<BulkResult | null> => {
    const variables = { filter, dryRun };
    const result = action === "cancel" ? await cancelRuns(variables) : await rerunRuns(variables);
    if (result.error) {
      const hint = empty ? " Set a status, job type or lane filter: bulk actions act only on the runs the filters match." : "";
      setOutcome({ ok: false, text: `${WORDS[action].button.toLowerCase()} refused: ${errorText(result.error)}${hint}` });
      return null;
    }
    const data = result.data;
    if (!data) return null;
    return "cancelRuns" in data ? data.cancelRuns : data.rerunRuns;
  };

  const ask = async (action: Action) => {
    setPreview(null);
    setOutcome(null);
    const result = await call(action, true);
    // Even were the API to answer an empty filter, nothing is offered for it.
    if (result && empty) setOutcome({ ok: false, text: "Set a status, job type or lane filter first." });
    else if (result) setPreview({ action, filterKey, result });
  };

  const confirm = async () => {
    if (!current) return;
    setPreview(null);
    const result = await call(current.action, false);
    if (result) setOutcome({ ok: true, text: `${result.matched} matched, ${result.affected} ${WORDS[current.action].done}` });
  };

  const busy = cancelling || rerunning;
  return (
    <div className="bulk" data-bulk>
      <button type="button" className="danger" onClick={() => ask("cancel")} disabled={busy}>
        {WORDS.cancel.button}
      </button>
      <button type="button" onClick={() => ask("rerun")} disabled={busy}>
        {WORDS.rerun.button}
      </button>
      {current && (
        <span className="bulk-preview" role="status" data-field="bulk-preview">
          {current.result.matched} match, {current.result.affected} would be {WORDS[current.action].done}{" "}
          {current.result.affected > 0 && (
            <>
              <button type="button" className={current.action === "cancel" ? "danger" : ""} onClick={confirm} disabled={busy}>
                {WORDS[current.action].confirm}
              </button>{" "}
            </>
          )}
          <button type="button" onClick={() => setPreview(null)} disabled={busy}>
            Never mind
          </button>
        </span>
      )}
      {outcome && (
        <span className={outcome.ok ? "muted" : "error"} role={outcome.ok ? "status" : "alert"} data-field="bulk-outcome">
          {outcome.text}
        </span>
      )}
    </div>
  );
}
