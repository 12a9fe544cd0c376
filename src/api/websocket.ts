import { GraphQLError } from "graphql";
import WebSocket from "ws";
import type { RequestLimits } from "../config.ts";
import type { Logger } from "../log.ts";

/**
 * Bounds on graphql-ws connections (API.md, "Subscriptions"): how many operations are open,
 * per connection and per process, and how much a client that stops reading may leave unsent.
 */

/**
 * Counts the open graphql-ws operations (graphql-ws calls every operation a subscription; a
 * query over the socket is open until it answers). A subscribe past a limit gets an error
 * for that operation only: the connection and its other operations go on.
 *
 * An operation is admitted last in onSubscribe (after everything that can refuse it) and
 * released in onComplete, which graphql-ws calls however the operation ends (the source
 * ends, it fails, the client completes it, the socket closes); a connection's remainder is
 * dropped when it closes, so the count cannot drift past a connection's life.
 */
export class SubscriptionGate {
  readonly #limits: Pick<RequestLimits, "maxSubscriptionsPerConnection" | "maxSubscriptions">;
  readonly #open = new Map<object, Set<string>>();
  #total = 0;

  constructor(limits: Pick<RequestLimits, "maxSubscriptionsPerConnection" | "maxSubscriptions">) {
    this.#limits = limits;
  }

  /** Open operations on this process. */
  get open(): number {
    return this.#total;
  }

  /** Admits operation `id` of `connection`, or says why not. */
  admit(connection: object, id: string): GraphQLError | null {
    const ids = this.#open.get(connection) ?? new Set<string>();
    if (ids.size >= this.#limits.maxSubscriptionsPerConnection) {
      return new GraphQLError(
        `this connection already has ${ids.size} open subscriptions, the limit (FORGE_MAX_SUBSCRIPTIONS_PER_CONNECTION raises it); complete one first`,
        { extensions: { code: "BAD_USER_INPUT" } },
      );
    }
    if (this.#total >= this.#limits.maxSubscriptions) {
      return new GraphQLError(
        `the server already has ${this.#total} open subscriptions, its limit (FORGE_MAX_SUBSCRIPTIONS raises it); try again later`,
        { extensions: { code: "SERVICE_UNAVAILABLE" } },
      );
    }
    ids.add(id);
    this.#open.set(connection, ids);
    this.#total++;
    return null;
  }

  release(connection: object, id: string): void {
    const ids = this.#open.get(connection);
    if (ids?.delete(id)) this.#total--;
    if (ids?.size === 0) this.#open.delete(connection);
  }

  closed(connection: object): void {
    const ids = this.#open.get(connection);
    if (!ids) return;
    this.#total -= ids.size;
    this.#open.delete(connection);
  }
}

/**
 * How long one turn of the event loop may go on writing subscription messages before the
 * rest wait for the next turn: long enough to write many messages to a socket in one system
 * call, short enough that requests and ticks in between are not held up (API.md, "The event
 * loop").
 */
const TURN_BUDGET_MS = 4;
/** Messages up to this size are held to be written with the turn's others; a subscription event is a few hundred bytes. */
const CORK_MAX_BYTES = 16 * 1024;

/**
 * Writes of one turn of the event loop, coalesced per socket. Each graphql-ws message is one
 * `send`; written one at a time, each is one system call. So a socket's first write in a turn
 * corks it, and the turn's end uncorks them all: whatever a socket was sent in the turn goes
 * out in one write. Writers go on within the turn's budget and wait for the next turn past
 * it (`next`), so that a burst of events to many subscribers takes turns with everything
 * else the process does.
 */
class WriteTurn {
  #open = false;
  #startedAt = 0;
  readonly #corked = new Set<{ cork(): void; uncork(): void }>();

  /**
   * Notes a write of `length` bytes (or characters) to `socket` (its raw TCP socket) in the
   * current turn. A large message is not held back: coalescing pays for small ones, and a
   * corked socket's unsent bytes count against the subscriber's buffer bound.
   */
  write(socket: { cork(): void; uncork(): void } | undefined, length: number): void {
    if (!this.#open) {
      this.#open = true;
      this.#startedAt = performance.now();
      setImmediate(() => this.#end());
    }
    if (!socket) return;
    if (length > CORK_MAX_BYTES) {
      if (this.#corked.delete(socket)) socket.uncork();
      return;
    }
    if (!this.#corked.has(socket)) {
      socket.cork();
      this.#corked.add(socket);
    }
  }

  /** Whether the turn may still write (else the next message waits for the next turn). */
  get withinBudget(): boolean {
    return performance.now() - this.#startedAt < TURN_BUDGET_MS;
  }

  /** Resolves on the next turn of the event loop. */
  next(): Promise<void> {
    return new Promise((resolve) => setImmediate(resolve));
  }

  #end(): void {
    this.#open = false;
    for (const socket of this.#corked) socket.uncork();
    this.#corked.clear();
  }
}

/** The process's write turn: one for every socket, since they share the event loop. */
const writeTurn = new WriteTurn();

/**
 * A writer that has put this much in a socket's buffer waits for the socket to drain before
 * writing more: a client reading at its own pace is never pushed to the buffer bound (which
 * is for clients that stopped reading) by a burst it would have read in time.
 */
const WRITE_HIGH_WATER_BYTES = 64 * 1024;
/** How long a writer waits for a socket to drain. One that did not is no longer waited for: its client stopped reading, and the buffer bound will cut it off. */
const DRAIN_WAIT_MS = 1000;

type RawSocket = { once(event: string, fn: () => void): void; off(event: string, fn: () => void): void };
const draining = new WeakMap<object, Promise<boolean>>();
const stalled = new WeakSet<object>();

/** Resolves true once `raw` has drained (or closed), false when DRAIN_WAIT_MS passed first; one wait per socket, shared by its writers. */
function drainOf(raw: RawSocket): Promise<boolean> {
  let wait = draining.get(raw);
  if (wait) return wait;
  wait = new Promise<boolean>((resolve) => {
    const finish = (drained: boolean) => {
      clearTimeout(timer);
      raw.off("drain", onDrain);
      raw.off("close", onDrain);
      draining.delete(raw);
      resolve(drained);
    };
    const onDrain = () => finish(true);
    const timer = setTimeout(() => finish(false), DRAIN_WAIT_MS);
    raw.once("drain", onDrain);
    raw.once("close", onDrain);
  });
  draining.set(raw, wait);
  return wait;
}

/**
 * Paces a writer of many messages to `socket` (api/ws-server.ts, writeSharedAnswers), called
 * after each write (undefined when it need not wait): past the high-water mark it waits for the socket to drain (unless the
 * socket stalled before), and past the turn's budget for the next turn.
 */
export function pace(socket: WebSocket): Promise<void> | undefined {
  // ws keeps the TCP socket it writes to in `_socket`.
  const raw = (socket as unknown as { _socket?: RawSocket })._socket;
  if (raw && socket.bufferedAmount > WRITE_HIGH_WATER_BYTES && !stalled.has(raw)) {
    return drainOf(raw).then((drained) => {
      if (!drained) stalled.add(raw);
    });
  }
  // Most writes wait for nothing: no promise to settle.
  return writeTurn.withinBudget ? undefined : writeTurn.next();
}

/**
 * The WebSocket class for ws' `WebSocket` option: a socket whose unsent bytes pass
 * `maxBufferedBytes` is cut off (terminate: a client that does not read would not read a
 * close frame either).
 *
 * graphql-ws waits, before each next message of an operation, until the previous one has
 * been handed to the kernel. For a client that stops reading, that wait never ends: each of
 * its operations stalls with one message in the buffer, the bound is never reached, and the
 * events meant for it pile up in its followers instead. So `send` reports success as soon as
 * the message is queued; what a slow client has not read then shows in `bufferedAmount`,
 * where the bound sees it. Nothing waits on a slow client: its messages queue in its own
 * socket, and every other connection is served as before. Writes are coalesced per turn of
 * the event loop (WriteTurn).
 */
export function boundedWebSocket(maxBufferedBytes: number, log: Logger): typeof WebSocket {
  return class BoundedWebSocket extends WebSocket {
    override send(
      data: Parameters<WebSocket["send"]>[0],
      optionsOrCallback?: Parameters<WebSocket["send"]>[1] | ((error?: Error) => void),
      callback?: (error?: Error) => void,
    ): void {
      const done = typeof optionsOrCallback === "function" ? optionsOrCallback : callback;
      const options = typeof optionsOrCallback === "function" || optionsOrCallback === undefined ? {} : optionsOrCallback;
      if (this.readyState !== WebSocket.OPEN) {
        super.send(data, options, done); // ws reports the closed socket
        return;
      }
      // ws keeps the TCP socket it writes to in `_socket`.
      const length = typeof data === "string" ? data.length : ((data as { byteLength?: number }).byteLength ?? Number.POSITIVE_INFINITY);
      writeTurn.write((this as unknown as { _socket?: { cork(): void; uncork(): void } })._socket, length);
      super.send(data, options);
      if (this.bufferedAmount > maxBufferedBytes) {
        log.warn({ bufferedBytes: this.bufferedAmount, limit: maxBufferedBytes }, "a graphql-ws client stopped reading: disconnected");
        this.terminate();
      }
      // Past the turn's budget, on the next turn of the event loop, not now: graphql-ws
      // awaits this before the next message, and answering every send at once turned every
      // queued event of every subscription into one unbroken run of microtasks (a 1,000-step
      // run to 100 subscriptions held the loop for 18 s).
      if (done) {
        if (writeTurn.withinBudget) queueMicrotask(done);
        else setImmediate(done);
      }
    }

    /**
     * ws has already closed with 1009 (message too big) when a message passes `maxPayload`;
     * graphql-ws would report that error as an internal one, stack and all.
     */
    override emit(event: string | symbol, ...args: unknown[]): boolean {
      const error = args[0] as { code?: string } | undefined;
      if (event === "error" && error?.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") {
        log.info("a graphql-ws message over FORGE_MAX_BODY_BYTES: connection closed (1009)");
        return true;
      }
      return super.emit(event, ...args);
    }
  } as typeof WebSocket;
}
