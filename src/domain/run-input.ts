import { createHash } from "node:crypto";
import { InvalidInput } from "../errors.ts";
import { type Graph, type GraphRules, validateGraph } from "./graph.ts";
import { jsonProblem, textProblem } from "./json.ts";
import { RUN_MODES, type RunMode } from "./status.ts";

/** The createRun input as the API receives it (API.md, CreateRunInput). */
export interface CreateRunInput {
  id?: string | null;
  mode: RunMode;
  jobType: string;
  requestedBy: string;
  lane?: string | null;
  priority?: number | null;
  graph?: unknown;
  params?: unknown;
  idempotencyKey?: string | null;
}

/** A createRun input that passed every rule, with defaults filled in. */
export interface ValidRunInput {
  id: string | null;
  mode: RunMode;
  jobType: string;
  requestedBy: string;
  lane: string;
  priority: number;
  graph: Graph;
  params: Record<string, unknown>;
  idempotencyKey: string | null;
  /**
   * Digest of everything the client chose (equal inputs have equal hashes), for telling a
   * repeat of an idempotency key from a different input. Empty without a key: it has no
   * other use, and canonicalizing a large graph is the costliest part of creating a run.
   */
  inputHash: string;
}

const NAME = /^[A-Za-z0-9._:-]{1,128}$/;
const NAME_RULE = "must be 1-128 characters of [A-Za-z0-9._:-]";
export const PRIORITY_MIN = -1000;
export const PRIORITY_MAX = 1000;

export function checkName(field: string, value: unknown): string {
  if (typeof value !== "string" || !NAME.test(value)) throw new InvalidInput(field, NAME_RULE);
  return value;
}

/** What createRun checks besides the fixed rules: the graph's, and the modes the job type's policy allows. */
export interface RunRules extends GraphRules {
  allowedModes?: readonly RunMode[];
}

export function validateRunInput(input: CreateRunInput, rules: RunRules): ValidRunInput {
  const id = input.id == null ? null : checkName("input.id", input.id);
  if (!RUN_MODES.includes(input.mode)) throw new InvalidInput("input.mode", `must be one of ${RUN_MODES.join(", ")}`);
  const jobType = checkName("input.jobType", input.jobType);
  if (rules.allowedModes && !rules.allowedModes.includes(input.mode)) {
    throw new InvalidInput(
      "input.mode",
      `${input.mode} is not allowed by ${rules.limitsFrom ?? "the policy"} (allowed: ${rules.allowedModes.join(", ")})`,
    );
  }
  const lane = checkName("input.lane", input.lane ?? "default");
  const requestedBy = input.requestedBy;
  if (typeof requestedBy !== "string" || requestedBy.length < 1 || requestedBy.length > 256) {
    throw new InvalidInput("input.requestedBy", "must be 1-256 characters");
  }
  if (requestedBy.trim() === "") throw new InvalidInput("input.requestedBy", "must not be blank");
  checkText("input.requestedBy", requestedBy);
  const priority = input.priority ?? 0;
  if (!Number.isInteger(priority) || priority < PRIORITY_MIN || priority > PRIORITY_MAX) {
    throw new InvalidInput("input.priority", `must be an integer from ${PRIORITY_MIN} to ${PRIORITY_MAX}`);
  }
  const params = input.params ?? {};
  if (typeof params !== "object" || params === null || Array.isArray(params)) {
    throw new InvalidInput("input.params", "must be a JSON object");
  }
  const key = input.idempotencyKey ?? null;
  if (key !== null && (key.length < 1 || key.length > 256)) {
    throw new InvalidInput("input.idempotencyKey", "must be 1-256 characters");
  }
  if (key !== null) checkText("input.idempotencyKey", key);
  checkJson("input.params", params);
  checkJson("graph", input.graph);
  const graph = validateGraph(input.graph, rules);
  const chosen = { id, mode: input.mode, jobType, requestedBy, lane, priority, graph, params, idempotencyKey: key };
  return { ...chosen, params: params as Record<string, unknown>, inputHash: key === null ? "" : hashInput(chosen) };
}

/** Refuses a string that is not well-formed text (NUL, lone surrogates), naming the field. */
export function checkText(field: string, value: string): void {
  const problem = textProblem(value);
  if (problem) throw new InvalidInput(field, problem);
}

/**
 * Refuses JSON nested deeper than MAX_JSON_DEPTH, or holding a key or string that is not
 * well-formed text, naming where: `input.params.note: contains a NUL character (U+0000)`.
 */
export function checkJson(field: string, value: unknown): void {
  const problem = jsonProblem(value);
  if (problem) throw new InvalidInput(`${field}${problem.path}`, problem.problem);
}

function hashInput(value: unknown): string {
  return createHash("sha256").update(canonicalJson(value)).digest("hex");
}

/** JSON with object keys sorted, so that equal values always serialize alike. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}
