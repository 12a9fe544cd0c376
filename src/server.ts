import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { renderGraphiQL } from "@graphql-yoga/render-graphiql";
import { GraphQLError, getOperationAST } from "graphql";
import { handleProtocols } from "graphql-ws";
import { createYoga, type Plugin, type YogaServerInstance } from "graphql-yoga";
import { WebSocketServer } from "ws";
import { accessFor, bearerToken } from "./api/auth.ts";
import { corsOptions, OriginPolicy, useOriginPolicy, verifyWebSocketOrigin } from "./api/browser.ts";
import { type Context, createContext } from "./api/context.ts";
import { documentCaches } from "./api/document-cache.ts";
import {
  contractError,
  contractFormattedError,
  createErrorMasker,
  forgeGraphQLError,
  NO_OPERATION_MESSAGE,
  refusalResponse,
  useContractErrors,
} from "./api/errors.ts";
import { SharedAnswers, useSharedAnswers } from "./api/fanout.ts";
import { useJsonBodyInPieces } from "./api/json-body.ts";
import { useRequestLimits } from "./api/limits.ts";
import { schema } from "./api/schema/index.ts";
import { boundedWebSocket, SubscriptionGate } from "./api/websocket.ts";
import { useWellFormedInput } from "./api/well-formed.ts";
import { answerSink, serveGraphQLWs } from "./api/ws-server.ts";
import { type Clock, systemClock } from "./clock.ts";
import type { Config } from "./config.ts";
import type { AuditTrail } from "./engine/audit.ts";
import { Forge } from "./engine/forge.ts";
import { loadEngineSetup, openDatabase } from "./engine/setup.ts";
import type { StepRegistry } from "./engine/steps/registry.ts";
import { Forbidden } from "./errors.ts";
import type { Logger } from "./log.ts";
import { serveDashboard } from "./ops/dashboard.ts";
import { operationsRoutes, serveOperations } from "./ops/routes.ts";
import type { Db } from "./store/db.ts";

export interface AppOptions {
  log: Logger;
  clock?: Clock;
  registry?: StepRegistry;
  /** An already-open database (tests share one between apps to simulate restarts). */
  db?: Db;
  feedPollMs?: number;
  /** A shutdown requested during startup: stops waiting for a database that is not reachable yet. */
  stop?: AbortSignal;
  /** Where admin actions are recorded (default: the log). */
  audit?: AuditTrail;
}

export interface App {
  forge: Forge;
  yoga: YogaServerInstance<InitialContext, Context>;
  /** The subscriptions' shared answers (api/fanout.ts). */
  answers: SharedAnswers;
  /** Listens on config.host:config.port (port 0 picks a free one); returns the bound URL. */
  start(): Promise<string>;
  stop(): Promise<void>;
}

/** How long a closing WebSocket client gets to answer the close handshake. */
const WS_CLOSE_GRACE_MS = 1000;

export type InitialContext = { request?: Request; connectionParams?: Record<string, unknown> };

/**
 * FORGE_API_TOKEN gate: every operation needs the API (or admin) token when it is set.
 * HTTP requests are refused before parsing, so that a caller without the token learns
 * nothing about the schema, not even from validation errors; only the GraphiQL page
 * itself (static HTML) is served. graphql-ws connections are refused in onConnect; the
 * execution hooks are a second guard behind both.
 */
function useApiToken(config: Pick<Config, "adminToken" | "apiToken">): Plugin<Context> {
  const forbidden = new Forbidden("this server needs a token (Authorization: Bearer <FORGE_API_TOKEN>)");
  const refuse = () => ({ errors: [forgeGraphQLError(forbidden)] });
  return {
    onRequest: ({ request, endResponse, fetchAPI }) => {
      if (config.apiToken === null) return;
      if (request.method === "GET" && (request.headers.get("accept") ?? "").includes("text/html")) return;
      if (accessFor(config, bearerToken(request.headers.get("authorization"))).api) return;
      endResponse(refusalResponse(fetchAPI, request, 403, forbidden));
    },
    onExecute: ({ args, setResultAndStopExecution }) => {
      if (!args.contextValue.access.api) setResultAndStopExecution(refuse());
    },
    onSubscribe: ({ args, setResultAndStopExecution }) => {
      if (!args.contextValue.access.api) setResultAndStopExecution(refuse());
    },
  };
}

/** Builds the whole service: database, engine, GraphQL over HTTP and graphql-ws on one port. */
export async function buildApp(config: Config, options: AppOptions): Promise<App> {
  const { log } = options;
  const ownsDb = options.db === undefined;
  const setup = await loadEngineSetup(config, options.registry, log);
  const db = options.db ?? (await openDatabase(config, log, undefined, options.stop));
  let forge: Forge;
  try {
    forge = await Forge.start({
      ...setup,
      db,
      clock: options.clock ?? systemClock,
      log,
      feedPollMs: options.feedPollMs,
      audit: options.audit,
    });
  } catch (error) {
    if (ownsDb) await db.close().catch(() => {});
    throw error;
  }

  const origins = new OriginPolicy(config.corsOrigins, config.host);
  const answers = new SharedAnswers(config.limits.sharedAnswersBytes);
  const yoga = createYoga<InitialContext, Context>({
    schema,
    graphqlEndpoint: "/graphql",
    cors: corsOptions(origins),
    // Counted on the bytes as they arrive, so a chunked body is held to it too.
    maxRequestBodySize: config.limits.maxBodyBytes,
    // File uploads: Forge takes none, and a multipart body is one a browser sends across origins unasked.
    multipart: false,
    parserAndValidationCache: documentCaches(config.limits.documentCacheBytes),
    landingPage: false,
    graphiql: { title: "Forge", subscriptionsProtocol: "WS" },
    // GraphiQL's page with its scripts and styles inlined (yoga's default loads them from a
    // CDN, a blank page without internet access).
    renderGraphiQL,
    maskedErrors: { maskError: createErrorMasker(log, config.development) },
    logging: false,
    context: ({ request, connectionParams }) => {
      const header = request ? request.headers.get("authorization") : connectionParams?.authorization;
      return createContext(forge, accessFor(config, bearerToken(header)), config.limits.maxAnswerBytes);
    },
    // In this order: who may ask comes before what is asked, and every error is put in the
    // contract's words last, after the plugins that word refusals of their own.
    plugins: [
      useOriginPolicy(origins),
      useApiToken(config),
      useJsonBodyInPieces(config.limits.maxNesting),
      useWellFormedInput(),
      ...useRequestLimits(config.limits),
      useSharedAnswers(answers),
      useContractErrors(),
    ],
  });

  const operations = operationsRoutes(config, forge);
  const server: Server = createServer((req, res) => {
    if (serveOperations(req, res, operations)) return;
    if (serveDashboard(req, res)) return;
    void yoga(req, res);
  });
  const wss = new WebSocketServer({
    server,
    path: "/graphql",
    verifyClient: verifyWebSocketOrigin(origins),
    // A message over the limit closes the connection with 1009 (message too big).
    maxPayload: config.limits.maxBodyBytes,
    WebSocket: boundedWebSocket(config.limits.subscriberMaxBufferedBytes, log),
    handleProtocols,
  });
  const gate = new SubscriptionGate(config.limits);
  const ws = serveGraphQLWs<Record<string, unknown> | undefined>(
    {
      onConnect: (ctx) => {
        const header = ctx.connectionParams?.authorization;
        // Refused connections close with 4403 Forbidden.
        return accessFor(config, bearerToken(header)).api;
      },
      onClose: (ctx) => gate.closed(ctx),
      onSubscribe: async (ctx, id, params) => {
        const enveloped = yoga.getEnveloped({ connectionParams: ctx.connectionParams ?? {} });
        let document: ReturnType<typeof enveloped.parse>;
        try {
          document = enveloped.parse(params.query);
        } catch (error) {
          return [contractError(error instanceof GraphQLError ? error : new GraphQLError(String(error)))];
        }
        const errors = enveloped.validate(enveloped.schema, document);
        if (errors.length > 0) return errors.map(contractError);
        // graphql-ws would refuse this itself, but without calling onComplete (see SubscriptionGate).
        if (!getOperationAST(document, params.operationName)) {
          return [contractError(new GraphQLError(NO_OPERATION_MESSAGE))];
        }
        const contextValue = await enveloped.contextFactory();
        // Shared answers go straight to this socket; the rest through graphql-ws.
        contextValue.sink = answerSink(ctx.extra.socket, id);
        const refused = gate.admit(ctx, id);
        if (refused) return [refused];
        return {
          schema: enveloped.schema,
          document,
          operationName: params.operationName,
          variableValues: params.variables,
          contextValue,
          rootValue: { execute: enveloped.execute, subscribe: enveloped.subscribe },
        };
      },
      onComplete: (ctx, id) => gate.release(ctx, id),
      // The same codes as over HTTP, and no extension but the code.
      onNext: (_ctx, _id, _payload, _args, result) =>
        result.errors ? { ...result, errors: result.errors.map(contractFormattedError) } : undefined,
      onError: (_ctx, _id, _payload, errors) => errors.map(contractFormattedError),
      execute: (args) => (args.rootValue as { execute: typeof import("graphql").execute }).execute(args),
      subscribe: (args) => (args.rootValue as { subscribe: typeof import("graphql").subscribe }).subscribe(args),
    },
    wss,
    { development: config.development, maxNesting: config.limits.maxNesting, log },
  );

  let listening = false;
  return {
    forge,
    yoga,
    answers,
    start: () =>
      new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(config.port, config.host, () => {
          listening = true;
          const address = server.address() as AddressInfo;
          const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
          resolve(`http://${host}:${address.port}/graphql`);
        });
      }),
    stop: async () => {
      // Refuse new connections first, then end the open ones, then let the worker finish its
      // tick, then close the store. A WebSocket client that no longer reads never answers
      // the close handshake (ws would wait 30 s for it), so it is cut off after a grace period.
      const httpClosed = listening ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
      server.closeIdleConnections();
      for (const client of wss.clients) client.close(1001, "server shutting down");
      const cutOff = setTimeout(() => {
        for (const client of wss.clients) client.terminate();
      }, WS_CLOSE_GRACE_MS);
      await ws.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      clearTimeout(cutOff);
      server.closeAllConnections();
      await httpClosed;
      await forge.stop();
      if (ownsDb) await db.close();
    },
  };
}
