import { type Attributes, type Context, ROOT_CONTEXT, type Span, SpanStatusCode, type Tracer, trace } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  TraceIdRatioBasedSampler,
} from "@opentelemetry/sdk-trace-base";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";
import type { TraceSampler } from "../config.ts";

/**
 * OpenTelemetry traces (API.md, "Operations"): a span per tick, one per run in it, and one
 * per step attempt (the run's a child of the tick's, the attempt's of its run's),
 * exported over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set. Without it the engine has
 * no Tracing at all (null), so a tick and an attempt cost nothing for tracing, not even a
 * no-op span.
 *
 * The provider is this engine's own, not registered globally: the parent of an attempt's
 * span is passed by hand (the tick's span), so several engines in one process (tests) trace
 * apart, and nothing depends on an async context manager.
 */
export interface TracingOptions {
  /** OTLP/HTTP traces endpoint: the full URL spans are POSTed to. */
  url: string;
  serviceName: string;
  headers?: Record<string, string>;
  /** Which ticks are traced (default: all); an attempt's span follows its tick's decision. */
  sampler?: { name: TraceSampler; ratio: number };
}

/** What the engine's spans carry (attribute names are the contract's). */
export interface AttemptSpanAttributes {
  runId: string;
  stepId: string;
  stepType: string;
  attempt: number;
}

const propagator = new W3CTraceContextPropagator();
const MAX_QUEUED_SPANS = 32_768;
const EXPORT_BATCH = 4096;
const EXPORT_DELAY_MS = 1000;
/** How long stopping waits for the last spans to be sent. */
const SHUTDOWN_MS = 2000;

export class Tracing {
  readonly #provider: BasicTracerProvider;
  readonly #tracer: Tracer;

  constructor(options: TracingOptions) {
    this.#provider = new BasicTracerProvider({
      sampler: samplerOf(options.sampler ?? { name: "parentbased_always_on", ratio: 1 }),
      resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName }),
      spanProcessors: [
        new BatchSpanProcessor(new OTLPTraceExporter({ url: options.url, headers: options.headers ?? {} }), {
          // A busy worker makes thousands of spans a second (one per attempt): the SDK's default
          // queue (2,048) drops most of a burst; this holds about a second of a busy engine's.
          maxQueueSize: MAX_QUEUED_SPANS,
          maxExportBatchSize: EXPORT_BATCH,
          scheduledDelayMillis: EXPORT_DELAY_MS,
        }),
      ],
    });
    this.#tracer = this.#provider.getTracer("forge");
  }

  /** A tick's span, from its claim to its last commit. */
  startTick(owner: string, startTime: Date): Span {
    return this.#tracer.startSpan("forge.tick", { attributes: { "forge.owner": owner }, startTime });
  }

  /** One run's part of a tick (its advance, claim to commit of the batch), a child of the tick's span. */
  startRunTick(tick: Span, runId: string): Span {
    return this.#tracer.startSpan("forge.run_tick", { attributes: { "forge.run_id": runId } }, trace.setSpan(ROOT_CONTEXT, tick));
  }

  /** An attempt's span, a child of its run's tick span. */
  startAttempt(runTick: Span, a: AttemptSpanAttributes): Span {
    const attributes: Attributes = {
      "forge.run_id": a.runId,
      "forge.step_id": a.stepId,
      "forge.step_type": a.stepType,
      "forge.attempt": a.attempt,
    };
    return this.#tracer.startSpan(`forge.step ${a.stepType}`, { attributes }, trace.setSpan(ROOT_CONTEXT, runTick));
  }

  /** `traceparent` (and `tracestate`) naming `span`, for a request made inside it. */
  headersOf(span: Span): Record<string, string> {
    const headers: Record<string, string> = {};
    const context: Context = trace.setSpan(ROOT_CONTEXT, span);
    propagator.inject(context, headers, {
      set: (carrier, key, value) => {
        carrier[key] = value;
      },
    });
    return headers;
  }

  /**
   * Sends the spans still buffered and stops exporting, within SHUTDOWN_MS: a collector that is
   * down or does not answer loses those spans (the OTLP exporter retries for longer) rather
   * than holding up the process's stop.
   */
  async shutdown(log?: { warn(obj: object, msg: string): void }): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), SHUTDOWN_MS);
    });
    try {
      const outcome = await Promise.race([this.#provider.shutdown().then(() => "sent" as const), late]);
      if (outcome === "late")
        log?.warn({ timeoutMs: SHUTDOWN_MS }, "traces: the collector did not take the last spans in time; they are dropped");
    } catch (error) {
      log?.warn({ err: error }, "traces: the last spans could not be sent; they are dropped");
    } finally {
      clearTimeout(timer);
    }
  }
}

/** OpenTelemetry's standard samplers by their OTEL_TRACES_SAMPLER names. */
function samplerOf({ name, ratio }: { name: TraceSampler; ratio: number }): Sampler {
  const root = name.endsWith("always_on")
    ? new AlwaysOnSampler()
    : name.endsWith("always_off")
      ? new AlwaysOffSampler()
      : new TraceIdRatioBasedSampler(ratio);
  return name.startsWith("parentbased_") ? new ParentBasedSampler({ root }) : root;
}

/** Ends a run's or an attempt's span with its outcome (`forge.outcome`); an error makes it an error status. */
export function endSpan(span: Span, outcome: string, error?: string): void {
  span.setAttribute("forge.outcome", outcome);
  if (error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: error });
  span.end();
}

/** The tracing configuration says (null: OTEL_EXPORTER_OTLP_ENDPOINT unset, no tracing). */
export function tracingFrom(config: { tracing: TracingOptions | null }): Tracing | null {
  return config.tracing ? new Tracing(config.tracing) : null;
}
