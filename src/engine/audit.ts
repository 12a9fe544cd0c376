import type { Logger } from "pino";

/**
 * Admin actions (API.md, "Auth"): who did what to which target. Every admin operation goes
 * through one place that records it (api/admin.ts for the API, the pruner for retention),
 * so an audit log table can later take them over in one spot instead of a second mechanism.
 */
export interface AdminAction {
  /** Who acted: "admin-token" for a request with FORGE_ADMIN_TOKEN, "forge:retention" for the pruner. */
  actor: string;
  /** The operation's name (cancelRun, pruneRuns, ...). */
  action: string;
  /** What it acted on: a run id, a lane or job type, a filter; null for operations on everything (tickOnce). */
  target: string | null;
  /** The arguments and outcome worth keeping (counts, ids), as JSON. */
  detail: Record<string, unknown>;
  at: Date;
}

export interface AuditTrail {
  record(action: AdminAction): void;
}

/** Records admin actions as structured log lines (`"audit": {...}`), one per action. */
export class LogAuditTrail implements AuditTrail {
  constructor(private readonly log: Logger) {}

  record(action: AdminAction): void {
    this.log.info({ audit: { ...action, at: action.at.toISOString() } }, `admin action ${action.action}`);
  }
}
