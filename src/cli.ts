import { readFileSync } from "node:fs";
import { Command, CommanderError, Option } from "commander";
import { CliError, EXIT, ForgeClient } from "./cli/client.ts";
import { bulkAction, listPauses, pause, prune, resume } from "./cli/lifecycle.ts";
import { status, tick } from "./cli/operations.ts";
import {
  durationMs,
  each,
  httpUrl,
  instant,
  integer,
  jsonValue,
  nonEmpty,
  oneOf,
  param,
  RUN_MODES,
  RUN_STATUSES,
  TERMINAL_STATUSES,
  wholeNumber,
} from "./cli/options.ts";
import { cancelRun, createRun, listRuns, type Output, rerunRun, showRun, signalRun } from "./cli/runs.ts";
import { tailRun } from "./cli/tail.ts";
import type { StepRegistry } from "./engine/steps/registry.ts";

/**
 * The `forge` command line (src/main.ts and bin/forge.mjs run it): the server's own commands
 * (serve, worker, migrate; process.ts) and a client of the GraphQL API (runs, tick, status,
 * pause, resume, pauses, prune; src/cli/). `forge` with no command is `forge serve`, as `npm start` has always run it.
 */

export interface CliOptions {
  /** Step types for this process (default: the built-in ones). */
  registry?: StepRegistry;
}

const DEFAULT_URL = "http://127.0.0.1:4000/graphql";
const VERSION = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;

const EXIT_CODES = `
Exit codes:
  0  success (for "runs tail" and "runs create --wait": the run SUCCEEDED)
  1  an API error, a server that cannot be reached, (tail) a run that FAILED,
     or (resume) nothing was paused there
  2  a usage error (bad option or argument, an empty filter, refused before any
     request), or (tail) a run that was CANCELLED

Environment:
  FORGE_URL    the GraphQL endpoint when --url is not given (default ${DEFAULT_URL})
  FORGE_TOKEN  the bearer token when --token is not given: FORGE_API_TOKEN's value
               for reads when the server needs one, FORGE_ADMIN_TOKEN's for admin
               commands (tick, status, runs cancel, runs signal, runs rerun,
               runs cancel-matching, runs rerun-matching, pause, resume,
               pauses list, prune)`;

/** Runs one command to its end and returns the process's exit code. */
export async function runCli(argv: string[], options: CliOptions = {}): Promise<number> {
  if (argv.length === 0) return (await serverCommands()).serve(options);
  const io: Output = { out: process.stdout };
  let exitCode: number = EXIT.ok;
  const program = buildProgram(options, io, (code) => {
    exitCode = code;
  });
  try {
    // A reader that goes away (`forge runs list | head -1`) ends the command quietly, as in any Unix tool.
    process.stdout.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EPIPE") process.exit(EXIT.ok);
      throw error;
    });
    await program.parseAsync(argv, { from: "user" });
    return exitCode;
  } catch (error) {
    // Commander has printed its own message already (help, or a usage error on one line).
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (error instanceof CliError) {
      process.stderr.write(`forge: ${error.message}\n`);
      return error.exitCode;
    }
    throw error;
  }
}

/** The server's commands load the whole engine; the client commands start quicker without it. */
const serverCommands = () => import("./process.ts");

function buildProgram(options: CliOptions, io: Output, exit: (code: number) => void): Command {
  const program = new Command("forge")
    .version(VERSION, "-V, --version", "print the version of Forge")
    .description("Forge, a durable run-graph engine: its server and a client of its GraphQL API.")
    .addOption(new Option("--url <url>", "the GraphQL endpoint").env("FORGE_URL").default(DEFAULT_URL).argParser(httpUrl))
    .addOption(new Option("--token <token>", "bearer token (the admin token for admin commands)").env("FORGE_TOKEN"))
    .addHelpText("after", EXIT_CODES)
    .configureOutput({
      // Usage errors on one line, like every other error of the command line.
      outputError: (text, write) =>
        write(
          `${text
            .trim()
            .replace(/^error: /, "forge: ")
            .replace(/\s*\n\s*/g, " ")}\n`,
        ),
    })
    .exitOverride()
    .showHelpAfterError(false);

  const client = (command: Command) => {
    const globals = command.optsWithGlobals() as { url: string; token?: string };
    return new ForgeClient({ url: globals.url, token: globals.token ?? null });
  };
  const run = (action: () => Promise<number>) => async () => exit(await action());

  program
    .command("serve")
    .description("run the API (and the worker when FORGE_WORKER_ENABLED=true); what npm start runs")
    .action(run(async () => (await serverCommands()).serve(options)));
  program
    .command("worker")
    .description("run only the worker, with its health and metrics routes on FORGE_WORKER_PORT")
    .action(run(async () => (await serverCommands()).worker(options)));
  program
    .command("migrate")
    .description("apply pending database migrations and exit")
    .action(run(async () => (await serverCommands()).migrateCommand()));

  const runs = program.command("runs").description("list, show, create, follow, cancel, signal and re-run runs");

  runs
    .command("list")
    .description("list runs, newest first")
    .option("--status <status>", `only runs with this status (${RUN_STATUSES.join(", ")})`, oneOf(RUN_STATUSES))
    .option("--job-type <jobType>", "only runs of this job type")
    .option("--lane <lane>", "only runs in this lane")
    .option("--limit <n>", "most runs to list, 1..10000", wholeNumber(1, 10_000), 20)
    .option("--json", "print the runs as JSON", false)
    .action(async (opts, command: Command) => exit(await listRuns(client(command), opts, io)));

  runs
    .command("show")
    .description("show a run and its steps")
    .argument("<id>", "the run's id")
    .option("--json", "print the run as JSON", false)
    .action(async (id: string, opts, command: Command) => exit(await showRun(client(command), id, opts, io)));

  const tailOptions = (command: Command) =>
    command
      .option("--retry-for <seconds>", "how long to keep reconnecting after the connection is lost", wholeNumber(0, 86_400), 60)
      .option("--json", "print each event as one JSON line", false);

  tailOptions(
    runs
      .command("create")
      .description("create a run from a graph file and print its id")
      .requiredOption("--file <path>", "the run graph, a JSON file ({ steps, initial_step })")
      .requiredOption("--job-type <jobType>", "the run's job type (its policy applies)")
      .addOption(new Option("--mode <mode>", `LIVE or DRY_RUN`).default("LIVE").argParser(oneOf(RUN_MODES)))
      .option("--lane <lane>", "the run's lane (default: default)")
      .option("--param <key=value>", "a run parameter (a string value); repeat for more", param)
      .option("--priority <n>", "-1000..1000, higher first (default 0)", integer(-1000, 1000))
      .option("--requested-by <name>", "who asks for the run (default: cli:<your user name>)")
      .option("--id <id>", "the run's id (default: generated)")
      .option("--idempotency-key <key>", "creating again with the same key returns the same run")
      .option("--wait", "then follow the run as tail does, exiting as tail does", false),
  ).action(async (opts, command: Command) => {
    const forge = client(command);
    // With --wait --json the events follow, one JSON line each, the first naming the run.
    const print = opts.wait && opts.json ? "none" : opts.json ? "json" : "id";
    const id = await createRun(forge, { ...opts, print }, io);
    exit(opts.wait ? await tailRun(forge, id, tailSettings(opts)) : EXIT.ok);
  });

  tailOptions(
    runs
      .command("tail")
      .description("follow a run's events live until it ends; exit 0 SUCCEEDED, 1 FAILED, 2 CANCELLED")
      .argument("<id>", "the run's id"),
  ).action(async (id: string, opts, command: Command) => exit(await tailRun(client(command), id, tailSettings(opts))));

  runs
    .command("cancel")
    .description("cancel a run that is not finished (admin)")
    .argument("<id>", "the run's id")
    .option("--json", "print the run as JSON", false)
    .action(async (id: string, opts, command: Command) => exit(await cancelRun(client(command), id, opts, io)));

  runs
    .command("signal")
    .description("deliver a payload to a step waiting for a signal, such as an approval (admin)")
    .argument("<id>", "the run's id")
    .argument("<step>", "the waiting step's id")
    .option("--payload <json>", "the step's output, as JSON (default: null)", jsonValue)
    .option("--json", "print the run as JSON", false)
    .action(async (id: string, step: string, opts, command: Command) => exit(await signalRun(client(command), id, step, opts, io)));

  runs
    .command("rerun")
    .description("re-run a finished run as a new run, reusing the steps that succeeded (admin)")
    .argument("<id>", "the finished run's id")
    .option("--from-step <step>", "run this step and every step after it again, reusing the others that succeeded", nonEmpty)
    .option("--json", "print the new run as JSON", false)
    .action(async (id: string, opts, command: Command) => exit(await rerunRun(client(command), id, opts, io)));

  const filterOptions = (command: Command) =>
    command
      .option("--id <id...>", "runs with these ids (repeatable)", each(nonEmpty))
      .option("--status <status...>", `runs with these statuses (${RUN_STATUSES.join(", ")})`, each(oneOf(RUN_STATUSES)))
      .option("--job-type <jobType>", "runs of this job type", nonEmpty)
      .option("--lane <lane>", "runs in this lane", nonEmpty)
      .option("--created-after <instant>", "runs created after this ISO 8601 instant", instant)
      .option("--created-before <instant>", "runs created before this ISO 8601 instant", instant)
      .option("--dry-run", "count and list the runs, changing nothing", false)
      .option("--json", "print the result as JSON", false);

  filterOptions(
    runs.command("cancel-matching").description("cancel every unfinished run the filter matches; at least one filter option (admin)"),
  ).action(async (opts, command: Command) => exit(await bulkAction(client(command), "cancel", opts, io)));

  filterOptions(
    runs
      .command("rerun-matching")
      .description("re-run every FAILED or CANCELLED run the filter matches that has no re-run yet; at least one filter option (admin)"),
  ).action(async (opts, command: Command) => exit(await bulkAction(client(command), "rerun", opts, io)));

  program
    .command("tick")
    .description("advance runs that have work to do, once (admin)")
    .option("--limit <n>", "most runs to advance, 1..1000", wholeNumber(1, 1000), 10)
    .option("--json", "print the result as JSON", false)
    .action(async (opts, command: Command) => exit(await tick(client(command), opts, io)));

  program
    .command("status")
    .description("the server's readiness, the worker and the queue (admin)")
    .option("--json", "print the status as JSON", false)
    .action(async (opts, command: Command) => exit(await status(client(command), opts, io)));

  program
    .command("pause")
    .description("stop runs of a lane, a job type, or a job type in a lane from being claimed (admin)")
    .option("--lane <lane>", "pause this lane", nonEmpty)
    .option("--job-type <jobType>", "pause this job type (with --lane: only in that lane)", nonEmpty)
    .option("--reason <reason>", "why, for whoever lists the pauses")
    .option("--json", "print the pause as JSON", false)
    .action(async (opts, command: Command) => exit(await pause(client(command), opts, io)));

  program
    .command("resume")
    .description("lift the pause with exactly this lane and job type; exit 1 when there was none (admin)")
    .option("--lane <lane>", "the paused lane", nonEmpty)
    .option("--job-type <jobType>", "the paused job type", nonEmpty)
    .option("--json", "print the result as JSON", false)
    .action(async (opts, command: Command) => exit(await resume(client(command), opts, io)));

  program
    .command("pauses")
    .description("the lanes and job types paused now")
    .command("list")
    .description("list the pauses, oldest first (admin)")
    .option("--json", "print the pauses as JSON", false)
    .action(async (opts, command: Command) => exit(await listPauses(client(command), opts, io)));

  program
    .command("prune")
    .description("delete finished runs, with their steps, events and artifacts (admin)")
    .option("--finished-before <instant>", "runs that finished before this ISO 8601 instant", instant)
    .addOption(
      new Option("--older-than <duration>", "runs that finished longer ago than this: 30d, 12h, 90m, 2w")
        .argParser(durationMs)
        .conflicts("finishedBefore"),
    )
    .option(
      "--status <status...>",
      `only runs with these statuses (${TERMINAL_STATUSES.join(", ")}; default all three)`,
      each(oneOf(TERMINAL_STATUSES)),
    )
    .option("--dry-run", "count what would be deleted, deleting nothing", false)
    .option("--json", "print the counts as JSON", false)
    .action(async (opts, command: Command) => exit(await prune(client(command), opts, io)));

  return program;
}

function tailSettings(opts: { json: boolean; retryFor: number }) {
  return {
    json: opts.json,
    progressBar: !opts.json && process.stdout.isTTY === true,
    retryForMs: opts.retryFor * 1000,
    out: process.stdout,
    err: process.stderr,
  };
}
