import type { CombinedError } from "urql";
import { errorText } from "../errors.ts";

/** An operation's failure in the API's words. */
export function ErrorText({ error, what }: { error: CombinedError | undefined; what?: string }) {
  if (!error) return null;
  return (
    <p className="error" role="alert">
      {what ? `${what}: ` : ""}
      {errorText(error)}
    </p>
  );
}
