import type { StepRegistry } from "./engine/steps/registry.ts";
import { migrateCommand, serve, worker } from "./process.ts";

/**
 * The command line (src/main.ts runs it). `forge [serve|worker|migrate]`; the commands
 * themselves are in process.ts.
 */
const USAGE = "usage: forge [serve|worker|migrate]";

export interface CliOptions {
  /** Step types for this process (default: the built-in ones). */
  registry?: StepRegistry;
}

/** Runs one command to its end and returns the process's exit code. */
export async function runCli(argv: string[], options: CliOptions = {}): Promise<number> {
  const command = argv[0] ?? "serve";
  if (command === "serve") return serve(options);
  if (command === "worker") return worker(options);
  if (command === "migrate") return migrateCommand();
  console.error(USAGE);
  return 2;
}
