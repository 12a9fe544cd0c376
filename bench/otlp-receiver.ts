import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * An OTLP/HTTP traces receiver for bench/observability.ts, in a process of its own (as a
 * collector would be), so reading the exports costs the engine being measured nothing:
 * POST /v1/traces counts the spans of each export (OTLP's JSON encoding); GET /count answers
 * the spans received so far. Prints its URL on stdout once listening.
 */
let spans = 0;
let bytes = 0;
const server = createServer((req, res) => {
  if (req.method === "GET" && req.url === "/count") {
    res.end(JSON.stringify({ spans, bytes }));
    return;
  }
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    bytes += body.length;
    const parsed = JSON.parse(body.toString("utf8")) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: unknown[] }> }> };
    for (const r of parsed.resourceSpans) for (const s of r.scopeSpans) spans += s.spans.length;
    res.writeHead(200, { "content-type": "application/json" });
    res.end("{}");
  });
});
server.listen(0, "127.0.0.1", () => {
  console.log(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
