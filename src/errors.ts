/** Every code an API error may carry: the table of API.md, "Errors". */
export const ERROR_CODES = [
  "BAD_USER_INPUT",
  "FORBIDDEN",
  "NOT_FOUND",
  "CONFLICT",
  "SERVICE_UNAVAILABLE",
  "INTERNAL_SERVER_ERROR",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** Domain errors. Each carries the API error code it maps to. */
export abstract class ForgeError extends Error {
  abstract readonly code: Exclude<ErrorCode, "SERVICE_UNAVAILABLE" | "INTERNAL_SERVER_ERROR">;
}

/** Invalid arguments or graph. The message names the field or step and the problem. */
export class InvalidInput extends ForgeError {
  readonly code = "BAD_USER_INPUT";
  constructor(
    readonly field: string,
    readonly problem: string,
  ) {
    super(`${field}: ${problem}`);
    this.name = "InvalidInput";
  }
}

export class RunNotFound extends ForgeError {
  readonly code = "NOT_FOUND";
  constructor(readonly runId: string) {
    super(`run "${runId}" does not exist`);
    this.name = "RunNotFound";
  }
}

export class Conflict extends ForgeError {
  readonly code = "CONFLICT";
  constructor(message: string) {
    super(message);
    this.name = "Conflict";
  }
}

export class Forbidden extends ForgeError {
  readonly code = "FORBIDDEN";
  constructor(message = "a valid token is required for this operation") {
    super(message);
    this.name = "Forbidden";
  }
}

/**
 * A write under a lease matched no row: the lease expired and changed hands. The tick
 * that gets it has written nothing for that run and moves on.
 */
export class LeaseLost extends Error {
  constructor(readonly runId: string) {
    super(`lease on run "${runId}" was lost`);
    this.name = "LeaseLost";
  }
}
