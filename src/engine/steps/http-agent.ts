import { type LookupAddress, lookup } from "node:dns";
import { isIP, type LookupFunction } from "node:net";
import { Agent, buildConnector } from "undici";
import { SECOND } from "../../clock.ts";
import type { Destinations } from "../../domain/destination.ts";

/**
 * The HTTP agent of `http` steps: every connection it opens is checked against the
 * Destinations rules on the address it actually connects to, not on the URL's text.
 *
 * - A host that is an IP literal (the WHATWG URL parser has already turned 2130706433,
 *   0x7f000001, 127.1 and the like into 127.0.0.1) is checked before any socket exists.
 * - A host name is resolved by our own `lookup`, given to the socket: every address the
 *   name resolves to is checked, and the socket connects to exactly those addresses. There
 *   is no second resolution between the check and the connect for a rebinding DNS server
 *   to answer differently.
 *
 * undici follows redirects (fetch's `redirect: "follow"`) through the same agent, so each
 * hop's connection is checked the same way. A connection that cannot be made, whatever
 * the reason, fails with a ConnectFailure.
 */

/**
 * How long a connection may take to open. The attempt's own timeout still bounds the whole
 * request; this only stops one unanswered connect from waiting for the rest of it.
 */
const CONNECT_TIMEOUT_MS = 10 * SECOND;

/** A connection that was not opened: refused, unreachable, not resolvable, timed out, or not allowed by the rules. */
export class ConnectFailure extends Error {
  constructor(
    /** `host:port` of the connection, as in a URL (IPv6 in brackets). */
    readonly target: string,
    /** What went wrong, for the server's log only: telling these apart would let a caller map internal networks. */
    override readonly cause: Error,
  ) {
    super(`could not connect to ${target}: ${cause.message}`);
    this.name = "ConnectFailure";
  }
}

/** The rules refused the address a connection would go to. */
export class AddressNotAllowed extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AddressNotAllowed";
  }
}

/** An agent whose connections obey `destinations`. */
export function guardedAgent(destinations: Destinations): Agent {
  const open = buildConnector({ lookup: checkedLookup(destinations), timeout: CONNECT_TIMEOUT_MS });
  return new Agent({
    connect(options, callback) {
      const host = options.hostname.replace(/^\[(.*)\]$/, "$1");
      const target = `${isIP(host) === 6 ? `[${host}]` : host}:${options.port || (options.protocol === "https:" ? 443 : 80)}`;
      // The socket does not call `lookup` for an IP literal: check it here, before there is one.
      const refusal = isIP(host) === 0 ? null : destinations.refusal(host);
      if (refusal !== null) {
        queueMicrotask(() => callback(new ConnectFailure(target, new AddressNotAllowed(refusal)), null));
        return;
      }
      open(options, (error, socket) => {
        if (error) callback(new ConnectFailure(target, error), null);
        else callback(null, socket as NonNullable<typeof socket>);
      });
    },
  });
}

/**
 * dns.lookup, refusing a name any of whose addresses the rules refuse: with several
 * addresses the socket may try each (happy eyeballs), so one internal address among public
 * ones would be a way in.
 */
function checkedLookup(destinations: Destinations): LookupFunction {
  return (hostname, options, callback) => {
    lookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, "");
      const first = addresses[0];
      if (first === undefined) return callback(Object.assign(new Error(`${hostname} has no address`), { code: "ENOTFOUND" }), "");
      for (const { address } of addresses) {
        const refusal = destinations.refusal(address, hostname);
        if (refusal !== null) return callback(new AddressNotAllowed(`${hostname}: ${refusal}`), "");
      }
      if (options.all) callback(null, addresses);
      else callback(null, first.address, first.family);
    });
  };
}
