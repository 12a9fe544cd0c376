import { memo } from "react";
import type { Waiting } from "../operations.ts";
import { Time } from "./Status.tsx";

/** Why a run waits, in a cell of the runs list: the reason, with the API's sentence on hover. */
export const WaitingCell = memo(function WaitingCell({ waiting }: { waiting: Waiting | null }) {
  if (!waiting) return <span className="muted">–</span>;
  return (
    <span className={`wait w-${waiting.reason}`} title={waiting.detail} data-waiting={waiting.reason}>
      {waiting.reason}
    </span>
  );
});

/** Why a run waits, on its own page: the reason, the API's sentence and, when it moves by itself, when. */
export function WaitingFacts({ waiting }: { waiting: Waiting }) {
  return (
    <span className="waiting" data-waiting={waiting.reason}>
      <span className={`wait w-${waiting.reason}`}>{waiting.reason}</span> <span data-field="waiting-detail">{waiting.detail}</span>
      {waiting.until && (
        <>
          {" "}
          <span className="muted">until</span> <Time at={waiting.until} />
        </>
      )}
    </span>
  );
}
