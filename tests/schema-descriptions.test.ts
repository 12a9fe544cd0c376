import {
  buildASTSchema,
  extendSchema,
  type GraphQLArgument,
  type GraphQLSchema,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isObjectType,
  isSpecifiedDirective,
  isSpecifiedScalarType,
  parse,
  printSchema,
  visit,
} from "graphql";
import { describe, expect, it } from "vitest";
import { schema } from "../src/api/schema/index.ts";

/**
 * Every element of `built` a client would see without a description, named as
 * `Type`, `Type.field`, `Type.field(arg)`, `Enum.VALUE` or `@directive(arg)`.
 * graphql's own types, scalars and directives are described by graphql, not by Forge.
 */
function undescribed(built: GraphQLSchema): string[] {
  const missing: string[] = [];
  const check = (name: string, description: string | null | undefined) => {
    if (!description?.trim()) missing.push(name);
  };
  const checkArgs = (owner: string, args: readonly GraphQLArgument[]) => {
    for (const arg of args) check(`${owner}(${arg.name})`, arg.description);
  };
  for (const type of Object.values(built.getTypeMap())) {
    if (type.name.startsWith("__") || isSpecifiedScalarType(type)) continue;
    check(type.name, type.description);
    if (isObjectType(type) || isInterfaceType(type)) {
      for (const field of Object.values(type.getFields())) {
        check(`${type.name}.${field.name}`, field.description);
        checkArgs(`${type.name}.${field.name}`, field.args);
      }
    } else if (isInputObjectType(type)) {
      for (const field of Object.values(type.getFields())) check(`${type.name}.${field.name}`, field.description);
    } else if (isEnumType(type)) {
      for (const value of type.getValues()) check(`${type.name}.${value.name}`, value.description);
    }
  }
  for (const directive of built.getDirectives()) {
    if (isSpecifiedDirective(directive)) continue;
    check(`@${directive.name}`, directive.description);
    checkArgs(`@${directive.name}`, directive.args);
  }
  return missing;
}

describe("schema descriptions", () => {
  it("every type, field, argument, input field and enum value of the schema has a description", () => {
    expect(undescribed(schema)).toEqual([]);
  });

  it("the check names exactly the element without a description (it can fail)", () => {
    // Rebuilt from the printed SDL, so the round trip itself must keep every description.
    const withoutOne = visit(parse(printSchema(schema)), {
      ObjectTypeDefinition: (type) =>
        type.name.value !== "Run"
          ? undefined
          : {
              ...type,
              fields: type.fields?.map((field) =>
                field.name.value !== "events"
                  ? field
                  : {
                      ...field,
                      arguments: field.arguments?.map((arg) => (arg.name.value === "afterSeq" ? { ...arg, description: undefined } : arg)),
                    },
              ),
            },
    });
    expect(undescribed(buildASTSchema(withoutOne))).toEqual(["Run.events(afterSeq)"]);

    const added = extendSchema(schema, parse('extend enum RunStatus { PAUSED }\n"""A type."""\ntype Orphan { name: String }'));
    expect(undescribed(added)).toEqual(["RunStatus.PAUSED", "Orphan.name"]);
  });
});
