import { isIP } from "node:net";
import { domainToASCII } from "node:url";
import ipaddr from "ipaddr.js";

/**
 * Which addresses an `http` step may connect to (API.md, "Outbound requests"). By default
 * only globally routable unicast: a step must not become a way into the machine Forge runs
 * on or its private network (loopback services, cloud metadata at 169.254.169.254, other
 * hosts of the LAN). FORGE_HTTP_ALLOW_PRIVATE opens every address; FORGE_HTTP_ALLOW_HOSTS
 * opens named destinations (AllowEntry).
 *
 * Pure: these functions classify addresses given as text. engine/steps/http-agent.ts
 * applies them to the address of every connection, after name resolution.
 */

/** One entry of FORGE_HTTP_ALLOW_HOSTS. */
export type AllowEntry =
  /** A host name, lower case, without a trailing dot: whatever it resolves to may be reached. */
  | { kind: "host"; name: string }
  /** `*.example.internal`: every name that ends with `suffix` (".example.internal"), not the bare domain. */
  | { kind: "subdomains"; suffix: string }
  /** An address or a CIDR range (an address alone is a /32 or /128): connections to it, whatever the name. */
  | { kind: "range"; cidr: string };

/** What FORGE_HTTP_ALLOW_PRIVATE and FORGE_HTTP_ALLOW_HOSTS say. */
export interface DestinationRules {
  allowPrivate: boolean;
  allowHosts: readonly AllowEntry[];
}

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** IANA's global unicast space for IPv6: everything else is special-purpose or unassigned (e.g. ::7f00:1). */
const IPV6_GLOBAL_UNICAST = ipaddr.IPv6.parseCIDR("2000::/3");
/** The NAT64 well-known prefix (RFC 6052): the last 32 bits are the IPv4 address a translator connects to. */
const NAT64_WELL_KNOWN = ipaddr.IPv6.parseCIDR("64:ff9b::/96");

/** ipaddr.js's range names, in words for error messages and logs. */
const RANGE_WORDS: Record<string, string> = {
  loopback: "a loopback address",
  unspecified: "the unspecified address",
  private: "a private address",
  linkLocal: "a link-local address",
  carrierGradeNat: "a carrier-grade NAT address",
  multicast: "a multicast address",
  broadcast: "the broadcast address",
  uniqueLocal: "a unique-local address",
  deprecatedSiteLocal: "a site-local address",
  benchmarking: "a benchmarking address",
  rfc6052: "a local-use NAT64 address",
  "6to4": "a 6to4 address",
  teredo: "a Teredo address",
};

/** An address as text (four-part decimal IPv4, or IPv6 without brackets), or null when it is not one. */
function parseAddress(text: string): Address | null {
  // Strict forms only: "127.1" or "0x7f000001" are URL spellings, normalized before they get here.
  // No zone ids (fe80::1%eth0): URLs cannot carry them, and they would name an interface, not a host.
  if (isIP(text) === 0 || text.includes("%")) return null;
  return ipaddr.parse(text);
}

/**
 * The address an IPv6 address stands for when it carries an IPv4 one that the connection
 * really goes to: IPv4-mapped (::ffff:a.b.c.d, how a dual-stack socket reaches IPv4) and
 * the NAT64 well-known prefix. Any other address is returned as it is.
 */
function effective(address: Address): Address {
  if (address.kind() === "ipv4") return address;
  const v6 = address as ipaddr.IPv6;
  if (v6.isIPv4MappedAddress()) return v6.toIPv4Address();
  if (v6.match(NAT64_WELL_KNOWN)) return ipaddr.fromByteArray(v6.toByteArray().slice(12));
  return v6;
}

/** Why a parsed address is not globally routable unicast (ipaddr.js's range name), or null when it is. */
function rangeOf(address: Address): string | null {
  const target = effective(address);
  const range = target.range();
  if (range !== "unicast") return range;
  // 6to4 and Teredo are named ranges above, so denied: their relays are a way around these checks.
  if (target.kind() === "ipv6" && !(target as ipaddr.IPv6).match(IPV6_GLOBAL_UNICAST)) return "reserved";
  return null;
}

/**
 * The kind of internal address `address` is ("loopback", "private", "linkLocal", ...: the
 * names of ipaddr.js), or null when it is globally routable unicast and may be reached by
 * default. Text that is not an address is "invalid".
 */
export function internalRange(address: string): string | null {
  const parsed = parseAddress(address);
  return parsed === null ? "invalid" : rangeOf(parsed);
}

/** The internal range in words: "a loopback address", "a private address", ... */
function describeRange(range: string): string {
  if (range === "invalid") return "not an IP address";
  return RANGE_WORDS[range] ?? "a reserved address";
}

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/** A host name as URLs carry it (lower case, punycode, no trailing dot), or null when `text` is not one. */
function hostName(text: string): string | null {
  const ascii = domainToASCII(text.replace(/\.$/, ""));
  // domainToASCII also reads "127.1" as 127.0.0.1: such a name would never be a URL's host name.
  if (ascii === "" || ascii.length > 253 || isIP(ascii) !== 0) return null;
  const labels = ascii.split(".");
  if (!labels.every((label) => LABEL.test(label))) return null;
  // A URL whose last label is a number is read as an IPv4 address (or refused), never as a name.
  if (/^(\d+|0x[0-9a-f]*)$/.test(labels[labels.length - 1] as string)) return null;
  return ascii;
}

/** One FORGE_HTTP_ALLOW_HOSTS entry, or null when it is none of a host name, `*.name`, an address or a CIDR range. */
export function parseAllowEntry(text: string): AllowEntry | null {
  const entry = text.trim().toLowerCase();
  if (entry.startsWith("*.")) {
    const name = hostName(entry.slice(2));
    return name === null ? null : { kind: "subdomains", suffix: `.${name}` };
  }
  const [address, prefix, ...rest] = entry.split("/");
  const parsed = parseAddress((address as string).replace(/^\[(.*)\]$/, "$1"));
  if (parsed !== null && rest.length === 0) {
    const max = parsed.kind() === "ipv4" ? 32 : 128;
    if (prefix !== undefined && !/^\d{1,3}$/.test(prefix)) return null;
    const bits = prefix === undefined ? max : Number(prefix);
    return bits > max ? null : { kind: "range", cidr: `${parsed.toString()}/${bits}` };
  }
  if (prefix !== undefined) return null;
  const name = hostName(entry);
  return name === null ? null : { kind: "host", name };
}

/** FORGE_HTTP_ALLOW_HOSTS (comma-separated; empty entries ignored): its entries, or the problem with the first bad one. */
export function parseAllowList(text: string): { entries: AllowEntry[] } | { problem: string } {
  const entries: AllowEntry[] = [];
  for (const item of text.split(",")) {
    if (item.trim() === "") continue;
    const entry = parseAllowEntry(item);
    if (entry === null) {
      return {
        problem: `${JSON.stringify(item.trim())} is not a host name, *.domain, IP address or CIDR range (e.g. api.internal, *.corp.example, 10.1.2.3, 10.0.0.0/8, fd00::/8)`,
      };
    }
    entries.push(entry);
  }
  return { entries };
}

/**
 * DestinationRules made ready to answer, for every connection an http step opens, whether
 * it may be made. See `refusal`.
 */
export class Destinations {
  readonly #allowPrivate: boolean;
  readonly #names: ReadonlySet<string>;
  readonly #suffixes: readonly string[];
  readonly #ranges: ReadonlyArray<[Address, number]>;

  constructor(rules: Partial<DestinationRules> = {}) {
    const entries = rules.allowHosts ?? [];
    this.#allowPrivate = rules.allowPrivate ?? false;
    this.#names = new Set(entries.flatMap((e) => (e.kind === "host" ? [e.name] : [])));
    this.#suffixes = entries.flatMap((e) => (e.kind === "subdomains" ? [e.suffix] : []));
    this.#ranges = entries.flatMap((e) => (e.kind === "range" ? [rangeEntry(e.cidr)] : []));
  }

  /** Whether a host name is opened by name (an exact entry, or `*.` of a domain it is under). */
  allowsName(name: string): boolean {
    const host = name.toLowerCase().replace(/\.$/, "");
    return this.#names.has(host) || this.#suffixes.some((suffix) => host.endsWith(suffix));
  }

  /**
   * Why a connection to `address` may not be made (for the server's log: "127.0.0.1 is a
   * loopback address"), or null when it may. `name` is the host name it was resolved from,
   * if any: a name in FORGE_HTTP_ALLOW_HOSTS opens whatever it resolves to.
   */
  refusal(address: string, name?: string): string | null {
    if (this.#allowPrivate) return null;
    const parsed = parseAddress(address);
    if (parsed === null) return `${address} is not an IP address`;
    const range = rangeOf(parsed);
    if (range === null) return null;
    if (name !== undefined && this.allowsName(name)) return null;
    const target = effective(parsed);
    if (this.#ranges.some(([net, bits]) => net.kind() === target.kind() && target.match(net, bits))) return null;
    return `${address} is ${describeRange(range)}`;
  }
}

/** An allow entry's range, as the kind connections are compared in (an IPv4-mapped range becomes IPv4). */
function rangeEntry(cidr: string): [Address, number] {
  const [net, bits] = ipaddr.parseCIDR(cidr);
  if (net.kind() === "ipv6" && (net as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
    return [(net as ipaddr.IPv6).toIPv4Address(), bits - 96];
  }
  return [net, bits];
}
