import { describe, expect, it } from "vitest";
import { CreateRun } from "./support/documents.ts";
import { runInput, startForge } from "./support/forge.ts";
import { startHttpServer } from "./support/http-server.ts";

/**
 * Traces exported over OTLP/HTTP to a small receiver started here (the exporter POSTs
 * OTLP's JSON encoding to /v1/traces): one span per tick, one per step attempt with the
 * contract's attributes, and `traceparent` on an http step's request.
 */
interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: Array<{ key: string; value: OtlpValue }>;
  status?: { code?: number };
}

function spansOf(bodies: string[]): Array<OtlpSpan & { attrs: Record<string, string | number | boolean> }> {
  const spans = bodies.flatMap((body) => {
    const parsed = JSON.parse(body) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }> };
    return parsed.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
  });
  return spans.map((span) => ({
    ...span,
    attrs: Object.fromEntries(
      span.attributes.map(({ key, value }) => [
        key,
        value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : value.boolValue),
      ]),
    ) as Record<string, string | number | boolean>,
  }));
}

/** OTLP's JSON encoding carries ids as hex strings. */
const HEX = (n: number) => new RegExp(`^[0-9a-f]{${n}}$`);

describe("tracing", () => {
  it("exports a span per tick, per run in it and per attempt over OTLP, and sends traceparent with an http step's request", async () => {
    const receiver = await startHttpServer((_req, res) => {
      res.setHeader("content-type", "application/json");
      res.end("{}");
    });
    const target = await startHttpServer();
    const forge = await startForge({
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: "forge-under-test", FORGE_HTTP_ALLOW_PRIVATE: "true" },
      autoStop: false,
    });
    const created = await forge.gql(CreateRun, {
      input: runInput({
        graph: {
          steps: {
            call: { type: "http", params: { url: `${target.url}/hook`, method: "POST", body: "{}" } },
            after: { type: "fail", deps: ["call"], params: { message: "no" }, retry: { maxAttempts: 1 } },
          },
        },
      }),
    });
    const runId = created.data?.createRun.id as string;
    await forge.app.forge.tickOnce(10);
    // Stopping the engine flushes the spans still batched.
    await forge.stop();

    const traces = receiver.requests.filter((r) => r.url === "/v1/traces");
    expect(traces.length).toBeGreaterThan(0);
    expect(traces[0]?.headers["content-type"]).toMatch(/^application\/json/);
    const resource = JSON.parse(traces[0]?.body as string).resourceSpans[0].resource.attributes;
    expect(resource).toContainEqual({ key: "service.name", value: { stringValue: "forge-under-test" } });
    const spans = spansOf(traces.map((r) => r.body));
    const ticks = spans.filter((s) => s.name === "forge.tick");
    expect(ticks).toHaveLength(1);
    const tick = ticks[0] as (typeof spans)[number];
    expect(tick.attrs).toMatchObject({ "forge.runs": 1, "forge.ticked": 1, "forge.failed": 1 });
    // One span for the run's part of the tick, a child of the tick's.
    const runTicks = spans.filter((s) => s.name === "forge.run_tick");
    expect(runTicks.map((s) => s.attrs)).toEqual([{ "forge.run_id": runId, "forge.outcome": "failed" }]);
    const runTick = runTicks[0] as (typeof spans)[number];
    expect(runTick.parentSpanId).toBe(tick.spanId);
    expect(runTick.traceId).toBe(tick.traceId);
    const attempts = spans.filter((s) => s.name.startsWith("forge.step "));
    expect(attempts.map((s) => s.attrs).sort((a, b) => String(a["forge.step_id"]).localeCompare(String(b["forge.step_id"])))).toEqual([
      { "forge.run_id": runId, "forge.step_id": "after", "forge.step_type": "fail", "forge.attempt": 1, "forge.outcome": "failed" },
      { "forge.run_id": runId, "forge.step_id": "call", "forge.step_type": "http", "forge.attempt": 1, "forge.outcome": "succeeded" },
    ]);
    for (const span of attempts) {
      expect(span.traceId).toBe(tick.traceId);
      expect(span.parentSpanId).toBe(runTick.spanId);
    }
    expect(attempts.find((s) => s.attrs["forge.step_id"] === "after")?.status?.code).toBe(2); // ERROR
    expect(tick.traceId).toMatch(HEX(32));
    // The http step's request carried its attempt's span as its parent.
    const call = attempts.find((s) => s.attrs["forge.step_id"] === "call") as (typeof spans)[number];
    expect(target.requests).toHaveLength(1);
    expect(target.requests[0]?.headers.traceparent).toBe(`00-${call.traceId}-${call.spanId}-01`);
  });

  it("is off without OTEL_EXPORTER_OTLP_ENDPOINT: no tracer, and no traceparent on requests", async () => {
    const target = await startHttpServer();
    const forge = await startForge({ env: { FORGE_HTTP_ALLOW_PRIVATE: "true" } });
    expect(forge.app.forge.resources.tracing).toBeNull();
    await forge.gql(CreateRun, { input: runInput({ graph: { steps: { call: { type: "http", params: { url: target.url } } } } }) });
    expect((await forge.app.forge.tickOnce(10)).succeeded).toBe(1);
    expect(target.requests).toHaveLength(1);
    expect(target.requests[0]?.headers.traceparent).toBeUndefined();
  });

  it("traces only the ticks OTEL_TRACES_SAMPLER picks, an attempt following its tick", async () => {
    const receiver = await startHttpServer((_req, res) => res.end("{}"));
    const forge = await startForge({
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: "0" },
      autoStop: false,
    });
    await forge.gql(CreateRun, { input: runInput() });
    expect((await forge.app.forge.tickOnce(10)).succeeded).toBe(1);
    await forge.stop();
    expect(spansOf(receiver.requests.filter((r) => r.url === "/v1/traces").map((r) => r.body))).toEqual([]);
  });

  it("leaves a traceparent the step sets itself as it is", async () => {
    const receiver = await startHttpServer((_req, res) => res.end("{}"));
    const target = await startHttpServer();
    const own = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const forge = await startForge({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, FORGE_HTTP_ALLOW_PRIVATE: "true" } });
    await forge.gql(CreateRun, {
      input: runInput({ graph: { steps: { call: { type: "http", params: { url: target.url, headers: { TraceParent: own } } } } } }),
    });
    await forge.app.forge.tickOnce(10);
    expect(target.requests[0]?.headers.traceparent).toBe(own);
  });
});
