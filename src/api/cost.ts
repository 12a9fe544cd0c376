import {
  type DocumentNode,
  type GraphQLField,
  type GraphQLSchema,
  getNullableType,
  isListType,
  isNonNullType,
  TypeInfo,
  ValidationContext,
  visit,
  visitWithTypeInfo,
} from "graphql";
import { type ComplexityEstimatorArgs, createComplexityRule } from "graphql-query-complexity";

/**
 * The cost of an operation: roughly how many values its answer can hold, known before it runs.
 *
 * - A field costs 1 plus the cost of its selection.
 * - A list field costs its page size times that: the value of its `first` argument (the
 *   argument's default when absent, as in `runs` (50) or `events` (100)), or, for a list
 *   without a page argument, the nominal size below.
 * - A connection's `edges` are its page, already counted by the field that has `first`.
 *
 * graphql-armor's cost limit has no page-size multiplier, so a 22 KB query of 400 aliased
 * `runs(first: 500) { edges { node { events(first: 1000) ... } } }` looked cheap and asked for
 * a 500 MB answer; graphql-query-complexity takes a field estimator that sees the arguments
 * (with the operation's variables), which is what pricing pages needs.
 */

/** Lists without a page argument: a typical size, not a maximum (a graph may have 1,000 steps). */
const NOMINAL_LIST_SIZE: Readonly<Record<string, number>> = {
  "Run.steps": 20,
  "Run.artifacts": 10,
  "Step.deps": 5,
};
/** Every other list without a page argument (TickResult.runIds, the introspection lists, ...). */
const DEFAULT_LIST_SIZE = 10;
/**
 * Introspection lists (__Schema.types, __Type.fields, ...). Small, so that the standard
 * introspection query costs about 8,500 however many types the schema grows to (it would
 * cost 51,000 at 10); re-entering types through introspection, the way to make its answer
 * large, is bounded by graphql-js' own MaxIntrospectionDepthRule.
 */
const INTROSPECTION_LIST_SIZE = 5;

function isList(field: GraphQLField<unknown, unknown>): boolean {
  const type = isNonNullType(field.type) ? getNullableType(field.type) : field.type;
  return isListType(type);
}

function pageSize({ type, field, args }: ComplexityEstimatorArgs): number {
  const first = field.args.find((a) => a.name === "first");
  if (first) {
    const asked = args.first ?? first.defaultValue;
    // Never less than one: a negative page must not subtract from the rest of the operation.
    return typeof asked === "number" && Number.isFinite(asked) ? Math.max(1, Math.ceil(asked)) : DEFAULT_LIST_SIZE;
  }
  if (!isList(field)) return 1;
  if (field.name === "edges" && type.name.endsWith("Connection")) return 1;
  if (type.name.startsWith("__")) return INTROSPECTION_LIST_SIZE;
  return NOMINAL_LIST_SIZE[`${type.name}.${field.name}`] ?? DEFAULT_LIST_SIZE;
}

function estimate(options: ComplexityEstimatorArgs): number {
  return pageSize(options) * (1 + options.childComplexity);
}

export class CostTooHigh extends Error {}

/**
 * The cost of the operation `operationName` (or of every operation) of a valid document with
 * these variables. Variables that do not coerce cost nothing here: execution refuses them
 * itself, before any resolver runs. Throws CostTooHigh as soon as the walk passes `max`
 * field visits (fragments expanded), which bounds the time spent on a fragment bomb.
 */
export function operationCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  variables: Record<string, unknown> | undefined,
  operationName: string | undefined,
  max: number,
): number {
  let cost = 0;
  const rule = createComplexityRule({
    maximumComplexity: Number.MAX_SAFE_INTEGER,
    estimators: [estimate],
    variables: variables ?? {},
    operationName: operationName ?? undefined,
    // Every visited field costs at least 1, so an operation that visits more fields than
    // the cost limit is over it.
    maxQueryNodes: max + 1,
    onComplete: (total: number) => {
      cost = total;
    },
  });
  const typeInfo = new TypeInfo(schema);
  // Errors found on the way (ill-typed variables or arguments) are execution's to report.
  const context = new ValidationContext(schema, document, typeInfo, () => {});
  try {
    visit(document, visitWithTypeInfo(typeInfo, rule(context)));
  } catch (error) {
    if (error instanceof Error && /maximum allowed number of nodes/.test(error.message)) throw new CostTooHigh();
    // The walk recurses with the document; the parse limits keep it shallow, and a document
    // deep enough to overflow it anyway is not one to run.
    if (error instanceof RangeError) throw new CostTooHigh();
    throw error;
  }
  return cost;
}
