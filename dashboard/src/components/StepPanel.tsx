import { type FormEvent, useState } from "react";
import { useMutation, useQuery } from "urql";
import { errorText } from "../errors.ts";
import { ARTIFACT_CONTENT, type Artifact, SIGNAL_RUN, type StepState } from "../operations.ts";
import { useToken } from "../token.ts";
import { ErrorText } from "./ErrorText.tsx";
import { Duration, StatusBadge, Time } from "./Status.tsx";

/** One step: its attempts, times, output, error and artifacts; the approval form when it waits for one. */
export function StepPanel({ runId, step, artifacts }: { runId: string; step: StepState; artifacts: readonly Artifact[] }) {
  const { token } = useToken();
  return (
    <div className="step-panel" data-step-panel={step.stepId}>
      <h3>
        <span className="mono">{step.stepId}</span> <StatusBadge status={step.status} />
      </h3>
      <dl className="facts">
        <dt>Type</dt>
        <dd>{step.type}</dd>
        <dt>Attempts</dt>
        <dd data-field="attempts">{step.attempts}</dd>
        <dt>Depends on</dt>
        <dd className="mono">{step.deps.length ? step.deps.join(", ") : "–"}</dd>
        <dt>Started</dt>
        <dd>
          <Time at={step.startedAt} />
        </dd>
        <dt>Finished</dt>
        <dd>
          <Time at={step.finishedAt} />
        </dd>
        <dt>Duration</dt>
        <dd>
          <Duration startedAt={step.startedAt} finishedAt={step.finishedAt} />
        </dd>
      </dl>
      {step.error && (
        <>
          <h4>Error</h4>
          <pre className="error-box" data-field="error">
            {step.error}
          </pre>
        </>
      )}
      <h4>Output</h4>
      {step.output === null || step.output === undefined ? (
        <p className="muted">none</p>
      ) : (
        <pre data-field="output">{JSON.stringify(step.output, null, 2)}</pre>
      )}
      <h4>Artifacts</h4>
      {artifacts.length === 0 ? (
        <p className="muted">none</p>
      ) : (
        <ul className="artifacts">
          {artifacts.map((artifact) => (
            <ArtifactItem key={artifact.id} runId={runId} artifact={artifact} />
          ))}
        </ul>
      )}
      {token && step.type === "approval" && step.status === "WAITING" && <SignalForm runId={runId} stepId={step.stepId} />}
    </div>
  );
}

/** An artifact's facts; its content is read only when asked for (it may be up to 1 MiB). */
function ArtifactItem({ runId, artifact }: { runId: string; artifact: Artifact }) {
  const [open, setOpen] = useState(false);
  const [{ data, error }] = useQuery({ query: ARTIFACT_CONTENT, variables: { id: runId }, pause: !open });
  const content = data?.run?.artifacts.find((a) => a.id === artifact.id)?.content;
  return (
    <li data-artifact={artifact.name}>
      <span className="mono">{artifact.name}</span> <span className="muted">{artifact.contentType}</span>{" "}
      <span className="muted">{artifact.size} bytes</span>{" "}
      <span className="muted mono" title="sha256">
        {artifact.sha256.slice(0, 12)}
      </span>{" "}
      <button type="button" onClick={() => setOpen(!open)}>
        {open ? "Hide" : "Show"}
      </button>
      <ErrorText error={error} what="content could not be read" />
      {open && content !== undefined && <pre>{content ?? "(deleted)"}</pre>}
    </li>
  );
}

/** Admin: signalRun with a JSON payload, which becomes the approval step's output. */
function SignalForm({ runId, stepId }: { runId: string; stepId: string }) {
  const [draft, setDraft] = useState('{"approved": true}');
  const [message, setMessage] = useState<string | null>(null);
  const [{ fetching }, signal] = useMutation(SIGNAL_RUN);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    let payload: unknown;
    try {
      payload = draft.trim() === "" ? null : JSON.parse(draft);
    } catch (error) {
      setMessage(`the payload is not JSON: ${(error as Error).message}`);
      return;
    }
    const result = await signal({ runId, stepId, payload });
    setMessage(result.error ? `signal refused: ${errorText(result.error)}` : null);
  };
  return (
    <form className="signal" onSubmit={submit}>
      <h4>Approve</h4>
      <label>
        Payload (JSON)
        <textarea name="payload" rows={3} value={draft} onChange={(e) => setDraft(e.target.value)} />
      </label>
      <button type="submit" disabled={fetching}>
        Signal {stepId}
      </button>
      {message && (
        <p className="error" role="alert">
          {message}
        </p>
      )}
    </form>
  );
}
