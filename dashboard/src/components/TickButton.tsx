import { useState } from "react";
import { useMutation } from "urql";
import { errorText } from "../errors.ts";
import { TICK_ONCE } from "../operations.ts";
import { useToken } from "../token.ts";

/** Admin: one tickOnce. Shown once a token is entered; a refusal is shown in the API's words. */
export function TickButton() {
  const { token } = useToken();
  const [{ fetching }, tick] = useMutation(TICK_ONCE);
  const [outcome, setOutcome] = useState<{ ok: boolean; text: string } | null>(null);
  if (!token) return null;
  const run = async () => {
    const result = await tick({ limit: 10 });
    if (result.error) setOutcome({ ok: false, text: `tick refused: ${errorText(result.error)}` });
    else if (result.data) {
      const { ticked, succeeded, failed } = result.data.tickOnce;
      setOutcome({ ok: true, text: `ticked ${ticked} run(s): ${succeeded} succeeded, ${failed} failed` });
    }
  };
  return (
    <div className="action">
      <button type="button" onClick={run} disabled={fetching}>
        Tick once
      </button>
      {outcome && (
        <span className={outcome.ok ? "muted" : "error"} role={outcome.ok ? "status" : "alert"}>
          {outcome.text}
        </span>
      )}
    </div>
  );
}
