import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
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
 *
 * It listens on `hosts` (loopback addresses only: 127.0.0.1 by default), all on one port;
 * `url` names the first.
 */
export async function startHttpServer(
  respond: (req: SeenRequest, res: ServerResponse) => void = (_req, res) => res.end("ok"),
  options: { hosts?: string[] } = {},
) {
  const [first = "127.0.0.1", ...others] = options.hosts ?? [];
  for (;;) {
    const started = await listenOn(respond, first, others);
    if (started) return started;
    // Another process took the port on one of the other addresses: try another port.
  }
}

async function listenOn(respond: (req: SeenRequest, res: ServerResponse) => void, first: string, others: string[]) {
  const requests: SeenRequest[] = [];
  const state = { closedEarly: 0 };
  const handle = (req: IncomingMessage, res: ServerResponse) => {
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
  };
  const servers = [createServer(handle)];
  await new Promise<void>((resolve) => (servers[0] as Server).listen(0, first, resolve));
  const port = ((servers[0] as Server).address() as AddressInfo).port;
  let closed: Promise<void> | null = null;
  const close = () => {
    closed ??= Promise.all(
      servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            server.closeAllConnections();
            server.close(() => resolve());
          }),
      ),
    ).then(() => undefined);
    return closed;
  };
  for (const host of others) {
    const server = createServer(handle);
    const listening = await new Promise<boolean>((resolve) => {
      server.once("error", () => resolve(false));
      server.listen(port, host, () => resolve(true));
    });
    if (!listening) {
      await close();
      return null;
    }
    servers.push(server);
  }
  onTestFinished(close);
  const url = `http://${first.includes(":") ? `[${first}]` : first}:${port}`;
  return {
    url,
    port,
    requests,
    /** Stops listening (also done when the test finishes). */
    close,
    /** Requests whose client went away before the server answered. */
    get closedEarly() {
      return state.closedEarly;
    },
  };
}
