import type { IncomingMessage } from "node:http";
import { CloseCode, makeServer, type ServerOptions } from "graphql-ws";
import type { Logger } from "pino";
import type { WebSocket, WebSocketServer } from "ws";
import type { AnswerSink } from "./fanout.ts";
import { type RequestJson, readRequestJson } from "./json-body.ts";
import { pace } from "./websocket.ts";

/**
 * graphql-ws on a `ws` server: what graphql-ws's own `useServer` (graphql-ws/use/ws) does,
 * with one difference. `useServer` hands every message to graphql-ws as text, which parses
 * it with one JSON.parse: a message at the 4 MiB limit holds the event loop for over 100 ms.
 * Here a large message is parsed in pieces first (json-body.ts) and handed over parsed;
 * graphql-ws's parseMessage takes a parsed message as it is. Messages reach graphql-ws in
 * the order they arrived, a large one included; each is handed over without waiting for
 * the one before to be handled (a subscription's handling lasts as long as it does).
 */
export interface WsExtra {
  socket: WebSocket;
  request: IncomingMessage;
}

export interface WsServerOptions {
  /** graphql-ws answers with less detail in production (its `isProd`). */
  development: boolean;
  /** A message nesting arrays and objects deeper than this is refused (FORGE_MAX_NESTING). */
  maxNesting: number;
  log: Logger;
  /** How often a connection is pinged; one that does not answer within as long is cut off. */
  keepAliveMs?: number;
}

const KEEP_ALIVE_MS = 12_000;
/** Until the connection is acknowledged (its token checked), a message may be at most this long: it is parsed at once. */
const MAX_CHARS_BEFORE_ACK = 256 * 1024;

/** A WebSocket close reason may be at most 123 bytes of UTF-8: cut whole characters to fit. */
function closeReason(text: string): string {
  if (Buffer.byteLength(text) <= 123) return text;
  const chars = Array.from(text.slice(0, 124));
  while (Buffer.byteLength(chars.join("")) > 120) chars.pop();
  return `${chars.join("")}...`;
}

/** Why a message is no graphql-ws message, as its close reason says it. */
function messageProblem(parsed: Exclude<RequestJson, { ok: true }>): string {
  switch (parsed.problem) {
    case "too-deep":
      return `${parsed.error.message} (FORGE_MAX_NESTING)`;
    case "invalid":
      return "not valid JSON";
    case "not-an-object":
      return "not a JSON object";
  }
}

export function serveGraphQLWs<P extends Record<string, unknown> | undefined>(
  options: ServerOptions<P, WsExtra>,
  wss: WebSocketServer,
  o: WsServerOptions,
): { dispose(): Promise<void> } {
  const server = makeServer<P, WsExtra>(options);
  const keepAliveMs = o.keepAliveMs ?? KEEP_ALIVE_MS;
  const internalError = (socket: WebSocket, error: unknown) => {
    o.log.error({ err: error }, "graphql-ws: a message could not be handled");
    const detail = error instanceof Error ? error.message : String(error);
    socket.close(CloseCode.InternalServerError, o.development ? closeReason(detail) : "Internal server error");
  };

  // The WebSocket server re-emits the HTTP server's errors: without a listener one would end the process.
  wss.on("error", (error) => {
    o.log.error({ err: error }, "graphql-ws: the WebSocket server failed");
    for (const client of wss.clients) client.close(CloseCode.InternalServerError, "Internal server error");
  });

  wss.on("connection", (socket, request) => {
    socket.once("error", (error) => internalError(socket, error));

    // A ping every keepAliveMs; a connection that does not answer in as long is cut off.
    let pongWait: NodeJS.Timeout | null = null;
    const pinger =
      keepAliveMs > 0 && Number.isFinite(keepAliveMs)
        ? setInterval(() => {
            if (socket.readyState !== socket.OPEN) return;
            pongWait = setTimeout(() => socket.terminate(), keepAliveMs);
            socket.once("pong", () => {
              if (pongWait) clearTimeout(pongWait);
              pongWait = null;
            });
            socket.ping();
          }, keepAliveMs)
        : null;
    // Once the socket has closed, nothing more of it reaches graphql-ws: a message handed over
    // after graphql-ws ended the connection would start an operation nobody ends.
    const gone = new AbortController();
    let acknowledged = false;

    const closed = server.opened(
      {
        protocol: socket.protocol,
        send: (data) =>
          new Promise<void>((resolve, reject) => {
            if (socket.readyState !== socket.OPEN) return resolve();
            if (!acknowledged && data.includes('"connection_ack"')) acknowledged = true;
            socket.send(data, (error) => (error ? reject(error) : resolve()));
          }),
        close: (code, reason) => socket.close(code, reason),
        onMessage: (handle) => {
          // The messages read so far, handed over in order (a large one is parsed first).
          let handedOver: Promise<void> = Promise.resolve();
          socket.on("message", (data) => {
            if (gone.signal.aborted) return;
            const text = String(data);
            if (!acknowledged && text.length > MAX_CHARS_BEFORE_ACK) {
              const limit = `a message before the connection is acknowledged may be at most ${MAX_CHARS_BEFORE_ACK / 1024} KiB`;
              socket.close(CloseCode.BadRequest, closeReason(`Invalid message received: ${limit}`));
              return;
            }
            const message = readRequestJson(text, { maxNesting: o.maxNesting, signal: gone.signal });
            handedOver = handedOver.then(async () => {
              const parsed = await message;
              if (gone.signal.aborted) return;
              if (!parsed.ok) {
                socket.close(CloseCode.BadRequest, closeReason(`Invalid message received: ${messageProblem(parsed)}`));
                return;
              }
              // graphql-ws's parseMessage takes a message that is parsed already as it is.
              handle(parsed.value as unknown as string).catch((error: unknown) => internalError(socket, error));
            });
          });
        },
      },
      { socket, request },
    );

    socket.once("close", (code, reason) => {
      gone.abort();
      if (pongWait) clearTimeout(pongWait);
      if (pinger) clearInterval(pinger);
      void closed(code, String(reason));
    });
  });

  return {
    dispose: async () => {
      for (const client of wss.clients) client.close(1001, "Going away");
      wss.removeAllListeners();
      await new Promise<void>((resolve, reject) => wss.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

/**
 * Where a graphql-ws subscription's shared answers (api/fanout.ts) go: straight to the
 * socket, each as a `next` message around its JSON serialized once, paced (api/websocket.ts).
 * graphql-ws would do for each subscriber what is done here once: validate the message,
 * stringify it, and wait for the socket between messages; with a thousand subscribers to
 * one event, that was most of the work. graphql-ws still runs the operation: it sends the
 * answers with errors, in their place, and `complete`.
 */
export function answerSink(socket: WebSocket, operationId: string): AnswerSink {
  const head = `{"id":${JSON.stringify(operationId)},"type":"next","payload":`;
  return {
    write: (json) => {
      // A closed socket takes nothing: graphql-ws ends the operation as it closes.
      if (socket.readyState === socket.OPEN) socket.send(`${head}${json}}`);
    },
    pace: () => pace(socket),
  };
}
