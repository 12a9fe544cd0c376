import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { onTestFinished } from "vitest";

export const MAIN = fileURLToPath(new URL("../../src/main.ts", import.meta.url));
export const RECORDING_MAIN = fileURLToPath(new URL("./recording-forge.ts", import.meta.url));

export interface ForgeProcess {
  child: ChildProcess;
  pid: number;
  /** Exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** stdout and stderr, interleaved as they arrived. */
  output(): string;
  /** stderr alone: where a process that refuses to start says why. */
  stderr(): string;
}

/** Starts a Forge process (`entry` with `args`); killed when the test finishes if still running. */
export function startProcess(entry: string, args: string[], env: Record<string, string>): ForgeProcess {
  // Node itself with tsx's loader (not the tsx binary, which would run Node as a grandchild),
  // so the pid is the Forge process's own: the one a test kills and the one steps record.
  const child = spawn(process.execPath, ["--import", "tsx", entry, ...args], {
    // Worker processes serve their operations routes on a free port unless a test names one.
    env: { ...process.env, LOG_LEVEL: "info", FORGE_WORKER_PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  let stderr = "";
  child.stdout?.on("data", (d) => {
    output += d;
  });
  child.stderr?.on("data", (d) => {
    output += d;
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
  });
  // "exit" can come before the last output: wait for the streams to close too.
  const closed = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  return { child, pid: child.pid as number, exited: exited.then(() => closed), output: () => output, stderr: () => stderr };
}
