import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { onTestFinished } from "vitest";

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

/**
 * A local HTTP server for step tests: it records every request it gets and answers with
 * `respond`, which may also never answer (to test timeouts and cancellation). `closed`
 * counts requests whose connection the client dropped before an answer.
 */
export async function startHttpServer(respond: (req: SeenRequest, res: ServerResponse) => void = (_req, res) => res.end("ok")) {
  const requests: SeenRequest[] = [];
  const state = { closedEarly: 0 };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const seen = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString("utf8") };
      requests.push(seen);
      res.on("close", () => {
        if (!res.writableFinished) state.closedEarly++;
      });
      respond(seen, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let closed: Promise<void> | null = null;
  const close = () => {
    closed ??= new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
    return closed;
  };
  onTestFinished(close);
  return {
    url,
    requests,
    /** Stops listening (also done when the test finishes). */
    close,
    /** Requests whose client went away before the server answered. */
    get closedEarly() {
      return state.closedEarly;
    },
  };
}
