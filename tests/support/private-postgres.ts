import { execFile, execFileSync } from "node:child_process";
import { chmodSync, chownSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

/**
 * A PostgreSQL server of a test's own, so a test can restart it without disturbing the
 * machine's server that the other test files share. Built from the same installation
 * (initdb + pg_ctl); the server runs as the `postgres` user, as PostgreSQL requires.
 */
const BIN = "/usr/lib/postgresql/15/bin";

export interface PrivatePostgres {
  url: string;
  /** Restarts the server without blocking the test's event loop: the load goes on meanwhile. */
  restart(): Promise<void>;
  /** Shuts the server down, keeping its data, until `resume`. */
  halt(): void;
  /** Starts a halted server again, without blocking the test's event loop. */
  resume(): Promise<void>;
  /** Stops the server and deletes its data. */
  stop(): void;
}

/** A TCP port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function asPostgresCommand(command: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ["runuser", ["-u", "postgres", "--", command, ...args]] : [command, args];
}

function asPostgres(command: string, args: string[]): void {
  const [file, argv] = asPostgresCommand(command, args);
  execFileSync(file, argv, { stdio: "pipe" });
}

/**
 * `standby: true` starts the server as a hot standby (standby.signal, no primary to follow):
 * it accepts read-only connections and stays in recovery.
 */
export async function startPrivatePostgres(mode: { standby?: boolean } = {}): Promise<PrivatePostgres> {
  const dir = mkdtempSync(join(tmpdir(), "forge-pg-"));
  chmodSync(dir, 0o700);
  const pgUid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
  const pgGid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim());
  if (process.getuid?.() === 0) chownSync(dir, pgUid, pgGid);
  const data = join(dir, "data");
  asPostgres(`${BIN}/initdb`, ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync"]);
  if (mode.standby) asPostgres("touch", [join(data, "standby.signal")]);
  const port = await freePort();
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=on`;
  const ctlArgs = (args: string[]) => ["-D", data, "-l", join(dir, "server.log"), "-o", options, ...args];
  const ctl = (...args: string[]) => asPostgres(`${BIN}/pg_ctl`, ctlArgs(args));
  ctl("start", "-w");
  return {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    restart: async () => {
      const [file, argv] = asPostgresCommand(`${BIN}/pg_ctl`, ctlArgs(["restart", "-w", "-m", "fast"]));
      await promisify(execFile)(file, argv);
    },
    halt: () => ctl("stop", "-w", "-m", "fast"),
    resume: async () => {
      const [file, argv] = asPostgresCommand(`${BIN}/pg_ctl`, ctlArgs(["start", "-w"]));
      await promisify(execFile)(file, argv);
    },
    stop: () => {
      try {
        ctl("stop", "-w", "-m", "immediate");
      } catch {
        // Already stopped (a test halted it): there is nothing left to stop.
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
