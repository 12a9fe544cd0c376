import { type FormEvent, useState } from "react";
import { useMutation } from "urql";
import { useLocation } from "wouter";
import { errorText } from "../errors.ts";
import { RERUN_RUN, type RunDetail } from "../operations.ts";

/**
 * Admin: rerunRun for a run that ended, from the steps that did not succeed or from a chosen
 * step (it and what depends on it run again, the rest is reused); then the new run's page.
 */
export function RerunForm({ run }: { run: RunDetail }) {
  const [, navigate] = useLocation();
  const [fromStep, setFromStep] = useState("");
  const [message, setMessage] = useState<string | null>(null);
  const [{ fetching }, rerun] = useMutation(RERUN_RUN);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const result = await rerun({ id: run.id, fromStep: fromStep || null });
    if (result.error) setMessage(`re-run refused: ${errorText(result.error)}`);
    else if (result.data) navigate(`/runs/${encodeURIComponent(result.data.rerunRun.id)}`);
  };
  return (
    <form className="action rerun" onSubmit={submit}>
      <label>
        From step{" "}
        <select name="fromStep" value={fromStep} onChange={(e) => setFromStep(e.target.value)}>
          <option value="">the steps that did not succeed</option>
          {run.steps.map((step) => (
            <option key={step.stepId} value={step.stepId}>
              {step.stepId}
            </option>
          ))}
        </select>
      </label>
      <button type="submit" disabled={fetching}>
        Re-run
      </button>
      {message && (
        <p className="error" role="alert">
          {message}
        </p>
      )}
    </form>
  );
}
