import { InvalidInput } from "../errors.ts";
import { storedJsonLength } from "../store/records.ts";

/**
 * How much of its answer one operation may take (API.md, "Limits on requests"), counted as
 * its large values are resolved: JSON fields (graphs, params, policies, outputs, event data)
 * and artifact contents. The cost limit counts fields and pages, not how big each value is,
 * so 100 aliases of `run(id) { params }` over a run with 1 MiB of params cost 200 and asked
 * for a 100 MiB answer. Values read from the database are charged by the length of their
 * stored text before they are parsed (store/records.ts), so an answer refused costs no
 * memory for what it would have held.
 *
 * Past the budget a field is an error naming FORGE_MAX_ANSWER_BYTES: the rest of the answer
 * still comes back, without the values that did not fit.
 */
export class AnswerBudget {
  #left: number;
  readonly #limit: number;

  constructor(limit: number) {
    this.#limit = limit;
    this.#left = limit;
  }

  /** A subscription answers once per event, each answer with a budget of its own. */
  reset(): void {
    this.#left = this.#limit;
  }

  /** The value of `record[key]` once its size is within the budget; `where` names the field in the error. */
  json<T extends object, K extends keyof T & string>(record: T, key: K, where: string): T[K] {
    const stored = storedJsonLength(record, key);
    if (stored !== undefined) {
      this.take(stored, where);
      return record[key];
    }
    const value = record[key];
    this.take(value === null || value === undefined ? 0 : (JSON.stringify(value)?.length ?? 0), where);
    return value;
  }

  /** Charges `bytes` for the field `where`, or refuses it. */
  take(bytes: number, where: string): void {
    this.#left -= bytes;
    if (this.#left < 0) {
      throw new InvalidInput(
        where,
        `the answer would hold more than ${this.#limit} bytes of values, the limit (FORGE_MAX_ANSWER_BYTES raises it); ask for fewer runs or fields`,
      );
    }
  }
}
