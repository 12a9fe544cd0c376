import type { Logger } from "pino";
import type { Clock } from "../clock.ts";
import { ENGINE_DEFAULTS, type EngineTunables } from "../config.ts";
import type { ForgeMetrics } from "../ops/metrics.ts";
import type { Tracing } from "../ops/tracing.ts";
import type { Db } from "../store/db.ts";
import type { AuditTrail } from "./audit.ts";
import type { EventFeed } from "./event-feed.ts";
import type { StepRegistry } from "./steps/registry.ts";

/**
 * What the engine's systems share: one object, made once by the Forge facade and handed to
 * each system (claim, lease keeper, commit pipeline, the attempts a tick runs, the worker).
 * A system takes what it needs from here, tunables included, so none reads another's
 * constants and each can be built alone in a test from the same parts.
 */
export interface EngineResources {
  readonly db: Db;
  readonly clock: Clock;
  readonly log: Logger;
  readonly registry: StepRegistry;
  readonly feed: EventFeed;
  readonly tunables: Readonly<EngineTunables>;
  /** Where the systems count what they do (ops/metrics.ts). */
  readonly metrics: ForgeMetrics;
  /** Where ticks and attempts are traced; null without OTEL_EXPORTER_OTLP_ENDPOINT (ops/tracing.ts). */
  readonly tracing: Tracing | null;
  /** Where admin actions are recorded (engine/audit.ts). */
  readonly audit: AuditTrail;
}

/** The tunables `given` names, the rest at their defaults (config.ts). */
export function engineTunables(given: Partial<EngineTunables>): Readonly<EngineTunables> {
  const defined = Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined));
  return Object.freeze({ ...ENGINE_DEFAULTS, ...defined });
}
