import { readFileSync } from "node:fs";
import { printSchemaWithDirectives } from "@graphql-tools/utils";
import { BreakingChangeType, buildSchema, findBreakingChanges, lexicographicSortSchema } from "graphql";
import { describe, expect, it } from "vitest";
import { schema } from "../src/api/schema/index.ts";

const SHARED_CONTRACT = new URL("../../shared/contract/core.graphql", import.meta.url);
const LOCAL_CONTRACT = new URL("./contract/core.graphql", import.meta.url);

describe("the public contract", () => {
  it("the schema has no breaking change against the contract's SDL (core)", () => {
    const contract = buildSchema(readFileSync(LOCAL_CONTRACT, "utf8"));
    const changes = findBreakingChanges(contract, schema);
    // Adding an optional argument is the only kind of change the contract allows here.
    expect(changes.filter((c) => c.type !== BreakingChangeType.REQUIRED_ARG_ADDED)).toEqual([]);
    expect(changes).toEqual([]);
  });

  it("the contract copy in tests/contract matches ../shared/contract when it is beside the checkout", (ctx) => {
    let shared: string;
    try {
      shared = readFileSync(SHARED_CONTRACT, "utf8");
    } catch {
      ctx.skip(); // a checkout without ../shared (CI always has it)
      return;
    }
    expect(readFileSync(LOCAL_CONTRACT, "utf8")).toBe(shared);
  });

  it("the committed schema.graphql is the printed Pothos schema", () => {
    const committed = readFileSync(new URL("../schema.graphql", import.meta.url), "utf8");
    const printed = printSchemaWithDirectives(lexicographicSortSchema(schema));
    expect(normalize(committed)).toBe(normalize(printed));
  });
});

/** schema.graphql comes out of codegen's printer; compare the type system, not the layout. */
function normalize(sdl: string): string {
  return printSchemaWithDirectives(lexicographicSortSchema(buildSchema(sdl)));
}
