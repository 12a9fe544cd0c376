import { type Logger, pino } from "pino";

export type { Logger };

/** Structured JSON logs on stdout. Tokens are never passed to the logger; the redact list is a second guard. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: "forge" },
    redact: ["authorization", "*.authorization", "headers.authorization", "connectionParams"],
  });
}
