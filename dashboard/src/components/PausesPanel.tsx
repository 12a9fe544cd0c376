import { type FormEvent, useState } from "react";
import { type UseQueryState, useMutation } from "urql";
import { errorText } from "../errors.ts";
import { PAUSE, type Pause, RESUME } from "../operations.ts";
import { ErrorText } from "./ErrorText.tsx";
import { Time } from "./Status.tsx";

/**
 * Admin: the pauses in force (`pauses`, oldest first), a form to pause a lane, a job type or
 * both, and a Resume button per pause. Runs a pause names are not claimed until it is lifted;
 * steps already running finish. `reload` reads `pauses` again after every change.
 */
export function PausesPanel({ pauses, reload }: { pauses: UseQueryState<{ pauses: Pause[] }>; reload(): void }) {
  const list = pauses.data?.pauses;
  return (
    <div className="panel wide" data-panel="pauses">
      <h2>Pauses</h2>
      <ErrorText error={pauses.error} what="pauses refused" />
      {list && list.length === 0 && <p className="muted">Nothing is paused.</p>}
      {list && list.length > 0 && (
        <table className="pauses">
          <thead>
            <tr>
              <th>Lane</th>
              <th>Job type</th>
              <th>Paused at</th>
              <th>Reason</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {list.map((pause) => (
              <PauseRow key={`${pause.lane ?? ""}\u0000${pause.jobType ?? ""}`} pause={pause} onResumed={reload} />
            ))}
          </tbody>
        </table>
      )}
      <PauseForm onPaused={reload} />
    </div>
  );
}

function PauseRow({ pause, onResumed }: { pause: Pause; onResumed(): void }) {
  const [{ fetching }, resume] = useMutation(RESUME);
  const [message, setMessage] = useState<string | null>(null);
  const onResume = async () => {
    const result = await resume({ lane: pause.lane, jobType: pause.jobType });
    if (result.error) setMessage(`resume refused: ${errorText(result.error)}`);
    // false: it was lifted already (elsewhere); the list read again shows it gone.
    else setMessage(result.data?.resume === false ? "this pause was already lifted" : null);
    onResumed();
  };
  return (
    <tr data-pause-lane={pause.lane ?? ""} data-pause-job-type={pause.jobType ?? ""}>
      <td>{pause.lane ?? <span className="muted">any lane</span>}</td>
      <td>{pause.jobType ?? <span className="muted">any job type</span>}</td>
      <td>
        <Time at={pause.pausedAt} />
      </td>
      <td>{pause.reason ?? <span className="muted">–</span>}</td>
      <td>
        <button type="button" onClick={onResume} disabled={fetching}>
          Resume
        </button>
        {message && (
          <span className="error" role="alert">
            {" "}
            {message}
          </span>
        )}
      </td>
    </tr>
  );
}

/** Lane, job type (at least one; the API says so when both are blank) and an optional reason. */
function PauseForm({ onPaused }: { onPaused(): void }) {
  const [{ fetching }, pause] = useMutation(PAUSE);
  const [message, setMessage] = useState<string | null>(null);
  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const formElement = event.currentTarget;
    const form = new FormData(formElement);
    const field = (name: string) => String(form.get(name) ?? "").trim() || null;
    const result = await pause({ lane: field("lane"), jobType: field("jobType"), reason: field("reason") });
    if (result.error) {
      setMessage(`pause refused: ${errorText(result.error)}`);
      return;
    }
    setMessage(null);
    formElement.reset();
    onPaused();
  };
  return (
    <form className="pause-form" onSubmit={submit}>
      <h3>Pause</h3>
      <label>
        Lane <input name="lane" placeholder="any" />
      </label>
      <label>
        Job type <input name="jobType" placeholder="any" />
      </label>
      <label>
        Reason <input name="reason" />
      </label>
      <button type="submit" disabled={fetching}>
        Pause
      </button>
      {message && (
        <p className="error" role="alert">
          {message}
        </p>
      )}
    </form>
  );
}
