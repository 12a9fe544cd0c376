import { readFileSync } from "node:fs";
import { printSchemaWithDirectives } from "@graphql-tools/utils";
import {
  BreakingChangeType,
  buildSchema,
  DangerousChangeType,
  extendSchema,
  findBreakingChanges,
  findDangerousChanges,
  type GraphQLSchema,
  isInputObjectType,
  lexicographicSortSchema,
  parse,
} from "graphql";
import { describe, expect, it } from "vitest";
import { schema } from "../src/api/schema/index.ts";

/**
 * The contract's SDL files (../shared/contract/README.md), each extending the ones before
 * it. Only the parts Forge implements are listed: a later file joins once its part exists.
 */
const CONTRACT_FILES = ["core.graphql", "steps.graphql", "lifecycle.graphql"];
const local = (file: string) => readFileSync(new URL(`./contract/${file}`, import.meta.url), "utf8");

/** The contract up to and including `files.length` files: core built, each later one extending it. */
function contractOf(files: string[]): GraphQLSchema {
  const [first, ...rest] = files as [string, ...string[]];
  return rest.reduce((built, file) => extendSchema(built, parse(local(file))), buildSchema(local(first)));
}

/**
 * Dangerous changes the contract allows: adding an optional argument, or a value to an enum,
 * is how the contract says the schema may grow ("add to it freely"). A changed default, a
 * type added to a union or an argument's changed meaning would be reported as another type.
 */
const ALLOWED_DANGEROUS = new Set<string>([DangerousChangeType.OPTIONAL_ARG_ADDED, DangerousChangeType.VALUE_ADDED_TO_ENUM]);

/**
 * Every breaking or dangerous change from the contract to `actual`. graphql-js compares
 * argument defaults but not those of input fields (CreateRunInput's lane and priority), so
 * those are compared here too.
 */
function contractChanges(contract: GraphQLSchema, actual: GraphQLSchema): Array<{ type: string; description: string }> {
  const changes: Array<{ type: string; description: string }> = [
    ...findBreakingChanges(contract, actual),
    ...findDangerousChanges(contract, actual).filter((c) => !ALLOWED_DANGEROUS.has(c.type)),
  ];
  for (const type of Object.values(contract.getTypeMap())) {
    const other = actual.getType(type.name);
    if (!isInputObjectType(type) || !isInputObjectType(other)) continue;
    for (const field of Object.values(type.getFields())) {
      const now = other.getFields()[field.name];
      if (!now) continue; // a removed field is a breaking change, reported above
      const before = JSON.stringify(field.defaultValue);
      const after = JSON.stringify(now.defaultValue);
      if (before !== after) {
        changes.push({ type: "INPUT_FIELD_DEFAULT_CHANGED", description: `${type.name}.${field.name} default ${before} -> ${after}` });
      }
    }
  }
  return changes;
}

describe("the public contract", () => {
  it.for(CONTRACT_FILES.map((_, i) => CONTRACT_FILES.slice(0, i + 1).join(" + ")))(
    "the schema has no breaking and no dangerous change against the contract (%s)",
    (files) => {
      expect(contractChanges(contractOf(files.split(" + ")), schema)).toEqual([]);
    },
  );

  it("the check reports a changed argument default, a changed input default and a removed field (it can fail)", () => {
    const altered = buildSchema(
      printSchemaWithDirectives(schema)
        .replace('lane: String = "default"', 'lane: String = "other"')
        .replace("first: Int = 50", "first: Int = 20")
        .replace(/^ *(?:"""[^"]*"""\n *)?eventCount: Int!.*$/m, ""),
    );
    expect(contractChanges(contractOf(CONTRACT_FILES), altered).map((c) => c.type)).toEqual(
      expect.arrayContaining([
        BreakingChangeType.FIELD_REMOVED,
        DangerousChangeType.ARG_DEFAULT_VALUE_CHANGE,
        "INPUT_FIELD_DEFAULT_CHANGED",
      ]),
    );
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
