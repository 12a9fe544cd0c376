import { readFileSync } from "node:fs";
import { printSchemaWithDirectives } from "@graphql-tools/utils";
import { BreakingChangeType, buildSchema, extendSchema, findBreakingChanges, lexicographicSortSchema, parse } from "graphql";
import { describe, expect, it } from "vitest";
import { schema } from "../src/api/schema/index.ts";

const CONTRACT_FILES = ["core.graphql", "steps.graphql"];
const local = (file: string) => readFileSync(new URL(`./contract/${file}`, import.meta.url), "utf8");

describe("the public contract", () => {
  it("the schema has no breaking change against the contract's SDL (core)", () => {
    const contract = buildSchema(local("core.graphql"));
    const changes = findBreakingChanges(contract, schema);
    // Adding an optional argument is the only kind of change the contract allows here.
    expect(changes.filter((c) => c.type !== BreakingChangeType.REQUIRED_ARG_ADDED)).toEqual([]);
    expect(changes).toEqual([]);
  });

  it("the schema has no breaking change against the contract's SDL (core extended with steps)", () => {
    const contract = extendSchema(buildSchema(local("core.graphql")), parse(local("steps.graphql")));
    expect(contract.getType("Artifact")).toBeDefined();
    const changes = findBreakingChanges(contract, schema);
    expect(changes).toEqual([]);
  });

  it.for(CONTRACT_FILES)("the contract copy tests/contract/%s matches ../shared/contract when it is beside the checkout", (file, ctx) => {
    let shared: string;
    try {
      shared = readFileSync(new URL(`../../shared/contract/${file}`, import.meta.url), "utf8");
    } catch {
      ctx.skip(); // a checkout without ../shared (CI always has it)
      return;
    }
    expect(local(file)).toBe(shared);
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
