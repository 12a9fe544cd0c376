import SchemaBuilder from "@pothos/core";
import { GraphQLError, Kind } from "graphql";
import type { Context } from "./context.ts";

/** The schema builder and the scalars every type file uses. Types live in schema/. */
export const builder = new SchemaBuilder<{
  Context: Context;
  DefaultFieldNullability: false;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    JSON: { Input: unknown; Output: unknown };
    ID: { Input: string; Output: string };
  };
}>({ defaultFieldNullability: false });

const ISO_UTC_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function parseDateTime(value: unknown): Date {
  const date = typeof value === "string" && ISO_UTC_MS.test(value) ? new Date(value) : null;
  if (!date || Number.isNaN(date.getTime())) {
    throw new GraphQLError("DateTime must be a UTC ISO-8601 string with milliseconds, like 2026-11-23T22:33:46.123Z", {
      extensions: { code: "BAD_USER_INPUT" },
    });
  }
  return date;
}

builder.scalarType("DateTime", {
  description: "A UTC instant as ISO-8601 with milliseconds and a Z suffix, e.g. 2026-11-23T22:33:46.123Z.",
  serialize: (value) => (value instanceof Date ? value : new Date(value as string)).toISOString(),
  parseValue: parseDateTime,
  parseLiteral: (ast) => parseDateTime(ast.kind === Kind.STRING ? ast.value : null),
});

builder.scalarType("JSON", {
  description: "Any JSON value.",
  serialize: (value) => value,
  parseValue: (value) => value,
  parseLiteral: function literal(ast, variables): unknown {
    switch (ast.kind) {
      case Kind.STRING:
      case Kind.BOOLEAN:
        return ast.value;
      case Kind.INT:
      case Kind.FLOAT:
        return Number(ast.value);
      case Kind.NULL:
        return null;
      case Kind.LIST:
        return ast.values.map((v) => literal(v, variables));
      case Kind.OBJECT:
        return Object.fromEntries(ast.fields.map((f) => [f.name.value, literal(f.value, variables)]));
      case Kind.VARIABLE:
        return variables?.[ast.name.value];
      default:
        throw new GraphQLError("not a JSON value", { extensions: { code: "BAD_USER_INPUT" } });
    }
  },
});

builder.queryType({ description: "Reads: runs, their steps and events, and the worker's status (admin)." });
builder.mutationType({
  description: "Changes: creating, advancing, cancelling and signalling runs. Those marked Admin need the FORGE_ADMIN_TOKEN bearer token.",
});
builder.subscriptionType({ description: "Live event streams over graphql-ws (the graphql-transport-ws subprotocol) on /graphql." });
