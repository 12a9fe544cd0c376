import { describe, expect, it } from "vitest";
import { type AllowEntry, Destinations, internalRange, parseAllowEntry, parseAllowList } from "../src/domain/destination.ts";

/** Which addresses http steps may reach: the classifier and FORGE_HTTP_ALLOW_HOSTS entries (no network). */

describe("internalRange: only globally routable unicast is public", () => {
  const cases: Array<[string, string | null]> = [
    // Public
    ["8.8.8.8", null],
    ["1.1.1.1", null],
    ["93.184.215.14", null],
    ["2606:4700:4700::1111", null],
    ["2a00:1450:4001:82a::200e", null],
    // IPv4 special ranges
    ["127.0.0.1", "loopback"],
    ["127.255.255.254", "loopback"],
    ["0.0.0.0", "unspecified"],
    ["0.1.2.3", "unspecified"],
    ["10.0.0.1", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["169.254.169.254", "linkLocal"], // cloud metadata
    ["100.64.0.1", "carrierGradeNat"],
    ["100.127.255.255", "carrierGradeNat"],
    ["224.0.0.1", "multicast"],
    ["239.255.255.250", "multicast"],
    ["255.255.255.255", "broadcast"],
    ["240.0.0.1", "reserved"],
    ["192.0.0.8", "reserved"],
    ["192.0.2.1", "reserved"], // TEST-NET-1
    ["198.51.100.7", "reserved"], // TEST-NET-2
    ["203.0.113.9", "reserved"], // TEST-NET-3
    ["198.18.0.1", "reserved"], // benchmarking
    ["192.88.99.1", "reserved"], // 6to4 relay anycast
    // Just outside the private ranges
    ["172.15.255.255", null],
    ["172.32.0.0", null],
    ["100.63.255.255", null],
    ["100.128.0.0", null],
    // IPv6 special ranges
    ["::1", "loopback"],
    ["::", "unspecified"],
    ["fc00::1", "uniqueLocal"],
    ["fd12:3456:789a::1", "uniqueLocal"],
    ["fe80::1", "linkLocal"],
    ["febf::1", "linkLocal"],
    ["fec0::1", "deprecatedSiteLocal"],
    ["ff02::1", "multicast"],
    ["2001:db8::1", "reserved"], // documentation
    ["2001:2::1", "benchmarking"],
    ["100::1", "discard"],
    // IPv4 inside IPv6: the embedded address decides, or the form is denied
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:7f00:1", "loopback"],
    ["::ffff:169.254.169.254", "linkLocal"],
    ["::ffff:10.1.2.3", "private"],
    ["::ffff:8.8.8.8", null],
    ["64:ff9b::7f00:1", "loopback"], // NAT64 of 127.0.0.1
    ["64:ff9b::a9fe:a9fe", "linkLocal"], // NAT64 of 169.254.169.254
    ["64:ff9b::808:808", null], // NAT64 of 8.8.8.8
    ["64:ff9b:1::1", "rfc6052"], // local-use NAT64
    ["2002:7f00:1::1", "6to4"],
    ["2002:808:808::1", "6to4"],
    ["2001:0:4136:e378:8000:63bf:3fff:fdd2", "teredo"],
    ["::7f00:1", "reserved"], // IPv4-compatible (deprecated): outside 2000::/3
    ["::ffff:0:7f00:1", "rfc6145"],
    ["4000::1", "reserved"], // unassigned, outside 2000::/3
    // Not addresses at all
    ["localhost", "invalid"],
    ["127.1", "invalid"],
    ["2130706433", "invalid"],
    ["[::1]", "invalid"],
    ["fe80::1%eth0", "invalid"],
    ["", "invalid"],
  ];
  for (const [address, range] of cases) {
    it(`${JSON.stringify(address)} is ${range ?? "public"}`, () => {
      expect(internalRange(address)).toBe(range);
    });
  }
});

describe("FORGE_HTTP_ALLOW_HOSTS entries", () => {
  const valid: Array<[string, AllowEntry]> = [
    ["api.internal", { kind: "host", name: "api.internal" }],
    ["  API.Internal.  ", { kind: "host", name: "api.internal" }],
    ["localhost", { kind: "host", name: "localhost" }],
    ["build_box.corp.example", { kind: "host", name: "build_box.corp.example" }],
    ["bücher.example", { kind: "host", name: "xn--bcher-kva.example" }],
    ["*.corp.example", { kind: "subdomains", suffix: ".corp.example" }],
    ["127.0.0.1", { kind: "range", cidr: "127.0.0.1/32" }],
    ["10.0.0.0/8", { kind: "range", cidr: "10.0.0.0/8" }],
    ["10.1.2.3/8", { kind: "range", cidr: "10.1.2.3/8" }],
    ["::1", { kind: "range", cidr: "::1/128" }],
    ["[::1]", { kind: "range", cidr: "::1/128" }],
    ["fd00::/8", { kind: "range", cidr: "fd00::/8" }],
    ["0.0.0.0/0", { kind: "range", cidr: "0.0.0.0/0" }],
  ];
  for (const [text, entry] of valid) {
    it(`reads ${JSON.stringify(text)}`, () => {
      expect(parseAllowEntry(text)).toEqual(entry);
    });
  }

  const invalid = [
    "127.1", // a URL spelling of 127.0.0.1: written as an address it must be a.b.c.d
    "2130706433",
    "0x7f000001",
    "10.0.0.0/33",
    "fd00::/129",
    "10.0.0.0/",
    "10.0.0.0/8/8",
    "10.0.0.0/x",
    "api.internal/8",
    "*.",
    "*",
    "a.*.example",
    "*.*.example",
    "-bad.example",
    "bad-.example",
    "a..b",
    "has space.example",
    "api.internal:8080",
    "http://api.internal",
    "foo.123",
    `${"a".repeat(64)}.example`,
  ];
  for (const text of invalid) {
    it(`refuses ${JSON.stringify(text)}`, () => {
      expect(parseAllowEntry(text)).toBeNull();
    });
  }

  it("a list skips empty entries and names the first bad one", () => {
    expect(parseAllowList("")).toEqual({ entries: [] });
    expect(parseAllowList(" a.internal, ,10.0.0.0/8,")).toEqual({
      entries: [
        { kind: "host", name: "a.internal" },
        { kind: "range", cidr: "10.0.0.0/8" },
      ],
    });
    const result = parseAllowList("a.internal, 127.1, also bad");
    expect(result).toHaveProperty("problem");
    expect((result as { problem: string }).problem).toMatch(/^"127\.1" is not a host name, \*\.domain, IP address or CIDR range/);
  });
});

describe("Destinations", () => {
  const rules = (list: string, allowPrivate = false) => {
    const parsed = parseAllowList(list);
    if (!("entries" in parsed)) throw new Error(parsed.problem);
    return new Destinations({ allowPrivate, allowHosts: parsed.entries });
  };

  it("refuses internal addresses by default and says which kind they are", () => {
    const none = new Destinations();
    expect(none.refusal("8.8.8.8")).toBeNull();
    expect(none.refusal("127.0.0.1")).toBe("127.0.0.1 is a loopback address");
    expect(none.refusal("169.254.169.254")).toBe("169.254.169.254 is a link-local address");
    expect(none.refusal("::ffff:7f00:1")).toBe("::ffff:7f00:1 is a loopback address");
    expect(none.refusal("fd00::1")).toBe("fd00::1 is a unique-local address");
    expect(none.refusal("not-an-address")).toBe("not-an-address is not an IP address");
  });

  it("allowPrivate opens every address", () => {
    const all = rules("", true);
    for (const address of ["127.0.0.1", "::1", "10.0.0.1", "169.254.169.254", "fd00::1"]) expect(all.refusal(address)).toBeNull();
  });

  it("an address or range entry opens those addresses whatever the name, IPv4-mapped forms included", () => {
    const some = rules("127.0.0.2, 10.0.0.0/8, fd00::/8");
    expect(some.refusal("127.0.0.2")).toBeNull();
    expect(some.refusal("::ffff:127.0.0.2")).toBeNull();
    expect(some.refusal("127.0.0.2", "anything.example")).toBeNull();
    expect(some.refusal("10.200.0.1")).toBeNull();
    expect(some.refusal("fd12::1")).toBeNull();
    expect(some.refusal("127.0.0.1")).not.toBeNull();
    expect(some.refusal("11.0.0.1")).toBeNull(); // public anyway
    expect(some.refusal("172.16.0.1")).not.toBeNull();
    expect(some.refusal("fc00::1")).not.toBeNull();
  });

  it("a host name entry opens whatever that name resolves to, and only through that name", () => {
    const named = rules("metadata.internal, *.corp.example");
    expect(named.refusal("10.1.1.1", "metadata.internal")).toBeNull();
    expect(named.refusal("10.1.1.1", "METADATA.internal.")).toBeNull();
    expect(named.refusal("10.1.1.1", "build.corp.example")).toBeNull();
    expect(named.refusal("10.1.1.1", "a.b.corp.example")).toBeNull();
    expect(named.refusal("10.1.1.1", "corp.example")).not.toBeNull(); // subdomains only
    expect(named.refusal("10.1.1.1", "evilcorp.example")).not.toBeNull();
    expect(named.refusal("10.1.1.1", "metadata.internal.evil.example")).not.toBeNull();
    expect(named.refusal("10.1.1.1")).not.toBeNull(); // the address itself is not named
  });
});
