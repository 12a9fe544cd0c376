import { type DocumentNode, type FieldNode, type FragmentDefinitionNode, Kind, type SelectionSetNode } from "graphql";

/**
 * How much work graphql-js' OverlappingFieldsCanBeMergedRule would do on a document, counted
 * before it is validated, up to a budget.
 *
 * That rule compares every two fields that share a response name in one selection set
 * (fragments included), and for each such pair every two fields of their selections that
 * share a name, and so on: the work grows with the square of repeated fields, and
 * multiplies with nesting. Under every other limit (20,000 tokens, no aliases needed) 400
 * copies of `runs { edges { node { id } } }` took 400 ms of validation on one event loop,
 * and a document of fragments that each spread the next one twice made the cost check
 * expand it for half a second. graphql-armor and graphql-js have no bound for either, so
 * the same comparisons are counted here with an early stop: the count stops at `budget`,
 * which keeps this check itself cheap (about a microsecond per unit).
 *
 * One unit is one comparison of two fields, or one field met while fragments are expanded.
 * Says which bound the document passes: "comparisons", or "spreads" when fragments spread
 * one another more than `maxSpreadDepth` levels deep; null when it passes neither.
 */
export function mergeWorkOver(document: DocumentNode, budget: number, maxSpreadDepth: number): "comparisons" | "spreads" | null {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  let work = 0;
  const spend = (units: number) => {
    work += units;
    if (work > budget) throw new OverBudget();
  };
  /** A selection set's fields by response name, fragments and inline fragments expanded. */
  const fieldsOf = (set: SelectionSetNode | undefined, seen: ReadonlySet<string> = new Set()): Map<string, FieldNode[]> => {
    const byName = new Map<string, FieldNode[]>();
    const collect = (s: SelectionSetNode, open: ReadonlySet<string>) => {
      for (const selection of s.selections) {
        if (selection.kind === Kind.FIELD) {
          spend(1);
          const name = selection.alias?.value ?? selection.name.value;
          const list = byName.get(name);
          if (list) list.push(selection);
          else byName.set(name, [selection]);
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          collect(selection.selectionSet, open);
        } else {
          const name = selection.name.value;
          const fragment = fragments.get(name);
          // A cycle or an unknown fragment: validation refuses it, cheaply, on its own.
          if (!fragment || open.has(name)) continue;
          // A chain of fragments spreading the next one: every walk of the document (the cost
          // check's among them) recurses once per link, and a long enough chain overflows the stack.
          if (open.size >= maxSpreadDepth) throw new TooDeep();
          collect(fragment.selectionSet, new Set([...open, name]));
        }
      }
    };
    if (set) collect(set, seen);
    return byName;
  };
  /** The comparisons between two fields' selections: every two of their fields that share a name. */
  const between = (a: SelectionSetNode | undefined, b: SelectionSetNode | undefined) => {
    if (!a || !b) return;
    const left = fieldsOf(a);
    const right = fieldsOf(b);
    for (const [name, xs] of left) {
      const ys = right.get(name);
      if (!ys) continue;
      for (const x of xs) {
        for (const y of ys) {
          spend(1);
          between(x.selectionSet, y.selectionSet);
        }
      }
    }
  };
  /** The comparisons within one selection set, then within each field's own selection. */
  const within = (set: SelectionSetNode | undefined) => {
    for (const fields of fieldsOf(set).values()) {
      for (let i = 0; i < fields.length; i++) {
        for (let j = i + 1; j < fields.length; j++) {
          spend(1);
          between((fields[i] as FieldNode).selectionSet, (fields[j] as FieldNode).selectionSet);
        }
        within((fields[i] as FieldNode).selectionSet);
      }
    }
  };
  try {
    for (const definition of document.definitions) {
      if (definition.kind === Kind.OPERATION_DEFINITION) within(definition.selectionSet);
    }
  } catch (error) {
    if (error instanceof OverBudget) return "comparisons";
    if (error instanceof TooDeep) return "spreads";
    throw error;
  }
  return null;
}

/** Thrown to leave the count as soon as it passes the budget. */
class OverBudget extends Error {}
/** Thrown when fragments spread one another more than the allowed levels deep. */
class TooDeep extends Error {}
