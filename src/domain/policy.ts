import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { z } from "zod";
import { DAY_MS, RETRY_FIELDS, type RetryPolicy } from "./graph.ts";
import { RUN_MODES, type RunMode } from "./status.ts";

/**
 * Policies (API.md, "Policies"): per job type, which step types and modes a run may use,
 * how many steps its graph may have, how many runs of a lane may be RUNNING at once, and
 * the retry and timeout a step gets when its graph does not say. A file maps job types to
 * policies; `"*"` applies to job types the file does not name; a job type with neither
 * gets BUILT_IN_POLICY.
 *
 * A job type's entry is complete on its own: keys it leaves out take the built-in
 * defaults, not the `"*"` entry's values.
 */
export interface Policy {
  /** Step types a graph may use; every registered type when absent. */
  allowedStepTypes?: string[];
  /** Modes a run may have; both when absent. */
  allowedModes?: RunMode[];
  maxSteps: number;
  /** Per lane: the most runs of that lane RUNNING at once. Lanes not named have no cap. */
  laneConcurrency?: Record<string, number>;
  /** Retry settings for steps whose graph entry has no `retry` (gaps filled from DEFAULT_RETRY). */
  defaultRetry?: Partial<RetryPolicy>;
  /** Timeout for steps whose graph entry has no `timeoutMs`. */
  defaultTimeoutMs?: number;
  /** Days after which finished runs of this job type are pruned (0: kept forever); absent: FORGE_RETENTION_DAYS. */
  retentionDays?: number;
}

/** Steps a graph may have while no policy says otherwise. */
export const DEFAULT_MAX_STEPS = 1000;
/** The most `maxSteps` a policy may allow: a tick's step budget covers any such graph. */
export const MAX_POLICY_STEPS = 10_000;
export const BUILT_IN_POLICY: Policy = Object.freeze({ maxSteps: DEFAULT_MAX_STEPS });
/** The file read when FORGE_POLICY_FILE is not set, if it exists (relative to the working directory). */
export const DEFAULT_POLICY_FILE = "forge.policy.json";

const NAME = /^[A-Za-z0-9._:-]{1,128}$/;
const retryField = (key: keyof RetryPolicy) => {
  const rule = RETRY_FIELDS[key];
  const n = z.number().min(rule.min).max(rule.max);
  return (rule.integer ? n.int() : n).optional();
};

const policySchema = z.strictObject({
  allowedStepTypes: z.array(z.string().min(1, "must not be empty")).min(1, "must list at least one step type").optional(),
  allowedModes: z.array(z.enum(RUN_MODES)).min(1, "must list at least one mode").optional(),
  maxSteps: z.number().int().min(1).max(MAX_POLICY_STEPS).default(DEFAULT_MAX_STEPS),
  laneConcurrency: z
    .record(z.string().regex(NAME, "lane names are 1-128 characters of [A-Za-z0-9._:-]"), z.number().int().min(1).max(1_000_000))
    .optional(),
  defaultRetry: z
    .strictObject({
      maxAttempts: retryField("maxAttempts"),
      backoffMs: retryField("backoffMs"),
      backoffFactor: retryField("backoffFactor"),
      maxBackoffMs: retryField("maxBackoffMs"),
    })
    .optional(),
  defaultTimeoutMs: z.number().int().min(1).max(DAY_MS).optional(),
  retentionDays: z.number().int().min(0).max(36_500).optional(),
});

const fileSchema = z.record(
  z.string().refine((k) => k === "*" || NAME.test(k), 'job types are "*" or 1-128 characters of [A-Za-z0-9._:-]'),
  policySchema,
);

export class PolicyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PolicyError";
  }
}

/** The policies a Forge instance enforces, loaded once at startup. */
export class PolicySet {
  /** Where they came from, named in every PolicyError: `policy file <path>`, or "built-in". */
  readonly source: string;
  readonly #byJobType: Map<string, Policy>;

  constructor(policies: Record<string, Policy>, source = "built-in") {
    this.source = source;
    this.#byJobType = new Map(Object.entries(policies));
  }

  /** The policy a new run of this job type gets. */
  forJobType(jobType: string): Policy {
    return this.#byJobType.get(jobType) ?? this.#byJobType.get("*") ?? BUILT_IN_POLICY;
  }

  /** A policy's cap on RUNNING runs of a lane, or null when it sets none. */
  static laneCap(policy: Policy, lane: string): number | null {
    const caps = policy.laneConcurrency;
    return caps && Object.hasOwn(caps, lane) ? (caps[lane] as number) : null;
  }

  /**
   * What retention prunes (API.md, "Retention"): each job type the file names, after its own
   * retentionDays or else `defaultDays` (FORGE_RETENTION_DAYS); every other job type after the
   * `"*"` entry's retentionDays or else `defaultDays`. Scopes kept forever (0 days) are left out.
   */
  retention(defaultDays: number): Array<{ days: number; jobType?: string; exceptJobTypes?: string[] }> {
    const named = [...this.#byJobType.keys()].filter((k) => k !== "*").sort();
    const scopes: Array<{ days: number; jobType?: string; exceptJobTypes?: string[] }> = named.map((jobType) => ({
      jobType,
      days: this.#byJobType.get(jobType)?.retentionDays ?? defaultDays,
    }));
    scopes.push({ exceptJobTypes: named, days: this.#byJobType.get("*")?.retentionDays ?? defaultDays });
    return scopes.filter((s) => s.days > 0);
  }

  /**
   * Checks the file against the step types this process knows: a policy allowing a type
   * nobody registered is a typo that would otherwise surface only as refused runs.
   */
  checkStepTypes(known: ReadonlySet<string>): void {
    for (const [jobType, policy] of this.#byJobType) {
      policy.allowedStepTypes?.forEach((type, i) => {
        if (!known.has(type)) {
          throw new PolicyError(
            `${this.source}: ${jobType}.allowedStepTypes[${i}]: unknown step type "${type}" (known: ${[...known].sort().join(", ")})`,
          );
        }
      });
    }
  }
}

/**
 * Parses and validates a policy document. Throws PolicyError naming the key (as a path,
 * `autobuilder.laneConcurrency.default`) and the problem.
 */
export function parsePolicies(text: string, source: string): PolicySet {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new PolicyError(`${source}: not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new PolicyError(`${source}: must be a JSON object mapping job types (or "*") to policies`);
  }
  // An own "__proto__" key would be dropped (or worse) by every object built from it: refused by name.
  for (const [jobType, entry] of Object.entries(json)) {
    if (jobType === "__proto__") throw new PolicyError(`${source}: __proto__: is not allowed as a job type`);
    const lanes = (entry as { laneConcurrency?: unknown } | null)?.laneConcurrency;
    if (typeof lanes === "object" && lanes !== null && Object.hasOwn(lanes, "__proto__")) {
      throw new PolicyError(`${source}: ${jobType}.laneConcurrency.__proto__: is not allowed as a lane name`);
    }
  }
  const result = fileSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0] as z.core.$ZodIssue;
    const path = issue.path.map(String).join(".");
    const problem =
      issue.code === "unrecognized_keys"
        ? `unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.join(", ")}`
        : issue.code === "invalid_key"
          ? (issue.issues[0]?.message ?? issue.message) // a record key: say what is wrong with it
          : issue.message;
    throw new PolicyError(`${source}: ${path ? `${path}: ` : ""}${problem}`);
  }
  return new PolicySet(result.data as Record<string, Policy>, source);
}

/**
 * The policies in force: FORGE_POLICY_FILE when set (it must exist), else
 * ./forge.policy.json when present, else the built-in default.
 */
export function loadPolicies(file: string | null, cwd = process.cwd()): PolicySet {
  const path = file === null ? resolve(cwd, DEFAULT_POLICY_FILE) : resolve(cwd, file);
  if (file === null && !existsSync(path)) return new PolicySet({});
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new PolicyError(`policy file ${path}: cannot be read (${error instanceof Error ? error.message : String(error)})`);
  }
  return parsePolicies(text, `policy file ${path}`);
}
