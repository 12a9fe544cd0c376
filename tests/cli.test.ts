import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { type AddressInfo, connect, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { brief, duration, span, table, time } from "../src/cli/format.ts";
import { TestClock } from "../src/clock.ts";
import { ADMIN, dialect, runInput, startForge, type TestForge } from "./support/forge.ts";
import { startPrivatePostgres } from "./support/private-postgres.ts";
import { MAIN, startProcess } from "./support/processes.ts";
import { waitFor } from "./support/wait.ts";

/**
 * The `forge` command line as people and scripts run it: a real child process (src/main.ts)
 * against a real Forge app listening on a free port. Runs advance only when a test ticks them
 * (the app's worker is off and its clock is a test clock), so every step of a tail is in the
 * test's hands.
 */

/** Each test starts several CLI processes (about a second each on a quiet machine, more under a parallel suite). */
const CLI_TIMEOUT_MS = 90_000;

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface Running {
  stdout(): string;
  stderr(): string;
  done: Promise<CliRun>;
}

/** Starts `forge --url <url> ...args`, with FORGE_TOKEN set to `token` ("" for none). */
function spawnCli(url: string, args: string[], token: string | null = ADMIN): Running {
  const child = startProcess(MAIN, ["--url", url, ...args], { FORGE_TOKEN: token ?? "", FORGE_URL: "" });
  let stdout = "";
  child.child.stdout?.on("data", (d) => {
    stdout += d;
  });
  return {
    stdout: () => stdout,
    stderr: child.stderr,
    done: child.exited.then((code) => ({ code, stdout, stderr: child.stderr() })),
  };
}

function cli(url: string, args: string[], token: string | null = ADMIN): Promise<CliRun> {
  return spawnCli(url, args, token).done;
}

async function serving(env: Record<string, string> = {}): Promise<{ forge: TestForge; url: string }> {
  const forge = await startForge({ env });
  return { forge, url: await forge.app.start() };
}

function file(content: string): string {
  const path = join(mkdtempSync(join(tmpdir(), "forge-cli-")), "graph.json");
  writeFileSync(path, content);
  return path;
}

/** script(1) (util-linux), to run the CLI on a pseudo-terminal. */
const hasScript = spawnSync("script", ["--version"]).status === 0;

/** A terminal control sequence (cursor moves, line clears) as cli-progress writes them. */
const ANSI_CONTROL = new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[A-Za-z]`, "g");

const lines = (text: string) => text.split("\n").filter((line) => line !== "");

/** Creates a run, a second after the one before: runs are listed newest first. */
async function create(forge: TestForge, extra: Parameters<typeof runInput>[0] = {}): Promise<string> {
  (forge.clock as TestClock).advance(1000);
  const { data, errors } = await forge.gql("mutation($input: CreateRunInput!) { createRun(input: $input) { id } }", {
    input: runInput(extra),
  });
  expect(errors).toBeUndefined();
  return (data as { createRun: { id: string } }).createRun.id;
}

async function tickOnce(forge: TestForge): Promise<void> {
  const { errors } = await forge.gql("mutation { tickOnce(limit: 100) { ticked } }");
  expect(errors).toBeUndefined();
}

async function runStatus(forge: TestForge, id: string): Promise<string> {
  const { data } = await forge.gql("query($id: ID!) { run(id: $id) { status } }", { id });
  return (data as { run: { status: string } }).run.status;
}

async function runCount(forge: TestForge): Promise<number> {
  const { data } = await forge.gql("{ runs(first: 500) { edges { node { id } } } }");
  return (data as { runs: { edges: unknown[] } }).runs.edges.length;
}

/** A port nothing listens on: bound once, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const APPROVAL_GRAPH = {
  steps: {
    fetch: { type: "noop" },
    approve: { type: "approval", deps: ["fetch"], params: { prompt: "ship it?" } },
    ship: { type: "noop", deps: ["approve"] },
  },
};

describe("forge runs list", { timeout: CLI_TIMEOUT_MS }, () => {
  it("prints a table of runs newest first, and the same runs as JSON with --json", async () => {
    const { forge, url } = await serving();
    const older = await create(forge, { jobType: "build", lane: "fast" });
    const newer = await create(forge, { jobType: "deploy", mode: "DRY_RUN", requestedBy: "alice" });

    const table = await cli(url, ["runs", "list"]);
    expect(table).toMatchObject({ code: 0, stderr: "" });
    const [head, first, second, ...rest] = lines(table.stdout);
    expect(head?.split(/\s{2,}/)).toEqual(["ID", "STATUS", "WAITING", "JOB TYPE", "LANE", "MODE", "REQUESTED BY", "CREATED", "DURATION"]);
    expect(first?.split(/\s{2,}/).slice(0, 7)).toEqual([newer, "PENDING", "QUEUED", "deploy", "default", "DRY_RUN", "alice"]);
    expect(second?.split(/\s{2,}/).slice(0, 7)).toEqual([older, "PENDING", "QUEUED", "build", "fast", "LIVE", "tests"]);
    expect(rest).toEqual([]);

    const json = await cli(url, ["runs", "list", "--json"]);
    expect(json.code).toBe(0);
    const runs = JSON.parse(json.stdout) as Array<{ id: string; jobType: string; lane: string; createdAt: string }>;
    expect(runs.map((r) => [r.id, r.jobType, r.lane])).toEqual([
      [newer, "deploy", "default"],
      [older, "build", "fast"],
    ]);
    expect(runs[0]?.createdAt).toMatch(/Z$/);
  });

  it("filters by status, job type and lane, and stops at --limit", async () => {
    const { forge, url } = await serving();
    const a = await create(forge, { jobType: "build", lane: "fast" });
    const b = await create(forge, { jobType: "build", lane: "slow" });
    await tickOnce(forge);
    const c = await create(forge, { jobType: "deploy", lane: "fast" });
    const ids = async (args: string[]) => {
      const out = await cli(url, ["runs", "list", "--json", ...args]);
      expect(out).toMatchObject({ code: 0, stderr: "" });
      return (JSON.parse(out.stdout) as Array<{ id: string }>).map((r) => r.id);
    };
    const [succeeded, pending, build, fast, fastBuild, two, none] = await Promise.all([
      ids(["--status", "succeeded"]),
      ids(["--status", "PENDING"]),
      ids(["--job-type", "build"]),
      ids(["--lane", "fast"]),
      ids(["--lane", "fast", "--job-type", "build"]),
      ids(["--limit", "2"]),
      cli(url, ["runs", "list", "--lane", "nowhere"]),
    ]);
    expect(succeeded).toEqual([b, a]);
    expect(pending).toEqual([c]);
    expect(build).toEqual([b, a]);
    expect(fast).toEqual([c, a]);
    expect(fastBuild).toEqual([a]);
    expect(two).toEqual([c, b]);
    expect(none).toMatchObject({ code: 0, stdout: "no runs\n" });
  });

  it("refuses a non-numeric --limit and an unknown --status with one line naming the option, exit 2", async () => {
    const port = await closedPort();
    // No server at all: the refusal comes before any request.
    const url = `http://127.0.0.1:${port}/graphql`;
    const limit = await cli(url, ["runs", "list", "--limit", "ten"]);
    expect(limit.code).toBe(2);
    expect(lines(limit.stderr)).toEqual(["forge: option '--limit <n>' argument 'ten' is invalid. must be a whole number from 1 to 10000."]);
    const status = await cli(url, ["runs", "list", "--status", "DONE"]);
    expect(status.code).toBe(2);
    expect(lines(status.stderr)).toEqual([
      "forge: option '--status <status>' argument 'DONE' is invalid. must be one of PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED.",
    ]);
    expect(status.stdout).toBe("");
  });
});

describe("forge runs show", { timeout: CLI_TIMEOUT_MS }, () => {
  it("prints the run and a table of its steps, or the run as JSON", async () => {
    const { forge, url } = await serving();
    const id = await create(forge, { graph: APPROVAL_GRAPH, params: { env: "prod" } });
    await tickOnce(forge);
    const shown = await cli(url, ["runs", "show", id]);
    expect(shown).toMatchObject({ code: 0, stderr: "" });
    const out = lines(shown.stdout);
    expect(out).toContain(`id:           ${id}`);
    expect(out).toContain("status:       RUNNING");
    expect(out).toContain("steps:        1/3 done");
    expect(out).toContain('params:       {"env":"prod"}');
    const steps = out.slice(out.findIndex((line) => line.startsWith("STEP"))).map((line) => line.split(/\s{2,}/));
    expect(steps.map((row) => row.slice(0, 5))).toEqual([
      ["STEP", "TYPE", "STATUS", "ATTEMPTS", "DEPS"],
      ["fetch", "noop", "SUCCEEDED", "1", "-"],
      ["approve", "approval", "WAITING", "1", "fetch"],
      ["ship", "noop", "PENDING", "0", "approve"],
    ]);

    const json = await cli(url, ["runs", "show", id, "--json"]);
    const run = JSON.parse(json.stdout) as {
      id: string;
      status: string;
      params: unknown;
      steps: Array<{ stepId: string; status: string }>;
    };
    expect(run).toMatchObject({ id, status: "RUNNING", params: { env: "prod" } });
    expect(run.steps.map((s) => [s.stepId, s.status])).toEqual([
      ["fetch", "SUCCEEDED"],
      ["approve", "WAITING"],
      ["ship", "PENDING"],
    ]);
  });

  it("an unknown run is NOT_FOUND on one stderr line, exit 1", async () => {
    const { url } = await serving();
    const shown = await cli(url, ["runs", "show", "r_123"]);
    expect(shown).toMatchObject({ code: 1, stdout: "" });
    expect(lines(shown.stderr)).toEqual(['forge: NOT_FOUND: run "r_123" does not exist']);
  });
});

describe("forge runs create", { timeout: CLI_TIMEOUT_MS }, () => {
  it("creates a run from a graph file with --param, --lane and --mode, and prints its id", async () => {
    const { forge, url } = await serving();
    const graph = file(JSON.stringify(APPROVAL_GRAPH));
    const created = await cli(url, [
      "runs",
      "create",
      "--file",
      graph,
      "--job-type",
      "release",
      "--lane",
      "fast",
      "--mode",
      "DRY_RUN",
      "--param",
      "version=1.2.3",
      "--param",
      "query=a=b",
      "--priority",
      "-5",
    ]);
    expect(created).toMatchObject({ code: 0, stderr: "" });
    const id = created.stdout.trim();
    expect(lines(created.stdout)).toEqual([id]);
    const { data } = await forge.gql("query($id: ID!) { run(id: $id) { jobType lane mode priority params requestedBy status graph } }", {
      id,
    });
    expect(data.run).toMatchObject({
      jobType: "release",
      lane: "fast",
      mode: "DRY_RUN",
      priority: -5,
      params: { version: "1.2.3", query: "a=b" },
      status: "PENDING",
    });
    expect(data.run.requestedBy).toMatch(/^cli/);
    expect(Object.keys(data.run.graph.steps)).toEqual(["fetch", "approve", "ship"]);

    const json = await cli(url, ["runs", "create", "--file", graph, "--job-type", "release", "--json"]);
    expect(JSON.parse(json.stdout)).toMatchObject({ jobType: "release", mode: "LIVE", lane: "default", status: "PENDING" });
  });

  it("refuses an unreadable file, invalid JSON, a --param without = and an unknown --mode before any request", async () => {
    const { forge, url } = await serving();
    const good = file(JSON.stringify(APPROVAL_GRAPH));
    const missing = join(tmpdir(), "forge-cli-no-such-dir", "graph.json");
    const broken = file("{ steps: ");
    const cases: Array<[string[], string]> = [
      [["--file", missing, "--job-type", "x"], `forge: option '--file ${missing}': cannot be read (no such file)`],
      [["--file", tmpdir(), "--job-type", "x"], `forge: option '--file ${tmpdir()}': cannot be read (is a directory)`],
      [["--file", broken, "--job-type", "x"], `forge: option '--file ${broken}': is not valid JSON (`],
      [
        ["--file", good, "--job-type", "x", "--param", "version"],
        "forge: option '--param <key=value>' argument 'version' is invalid. must be key=value",
      ],
      [["--file", good, "--job-type", "x", "--param", "=1"], "forge: option '--param <key=value>' argument '=1' is invalid."],
      [
        ["--file", good, "--job-type", "x", "--mode", "FAST"],
        "forge: option '--mode <mode>' argument 'FAST' is invalid. must be one of LIVE, DRY_RUN.",
      ],
      [["--file", good], "forge: required option '--job-type <jobType>' not specified"],
    ];
    const outs = await Promise.all(cases.map(([args]) => cli(url, ["runs", "create", ...args])));
    for (const [i, [args, message]] of cases.entries()) {
      const out = outs[i] as CliRun;
      expect(out.code, args.join(" ")).toBe(2);
      expect(lines(out.stderr), args.join(" ")).toHaveLength(1);
      expect(out.stderr.startsWith(message), `${out.stderr} starts with ${message}`).toBe(true);
      expect(out.stdout).toBe("");
    }
    expect(await runCount(forge)).toBe(0);
  });

  it("a graph the API refuses is its BAD_USER_INPUT on one line, exit 1", async () => {
    const { forge, url } = await serving();
    const cyclic = file(JSON.stringify({ steps: { a: { type: "noop", deps: ["b"] }, b: { type: "noop", deps: ["a"] } } }));
    const out = await cli(url, ["runs", "create", "--file", cyclic, "--job-type", "x"]);
    expect(out.code).toBe(1);
    expect(lines(out.stderr)).toHaveLength(1);
    expect(out.stderr).toMatch(/^forge: BAD_USER_INPUT: graph/);
    expect(await runCount(forge)).toBe(0);
  });

  it("--wait prints the id, then follows the run and exits as tail does", async () => {
    const { forge, url } = await serving();
    const graph = file(JSON.stringify({ steps: { only: { type: "noop" } } }));
    const waiting = spawnCli(url, ["runs", "create", "--file", graph, "--job-type", "x", "--wait"]);
    await waitFor(() => waiting.stdout().includes("\n"), "the new run's id", 30_000);
    const id = lines(waiting.stdout())[0] as string;
    expect(await runStatus(forge, id)).toBe("PENDING");
    await tickOnce(forge);
    const done = await waiting.done;
    expect(done).toMatchObject({ code: 0, stderr: "" });
    expect(lines(done.stdout)).toEqual([id, "[1/1] succeeded  only (attempt 1)", `run ${id} SUCCEEDED: 1/1 steps done`]);
  });
});

describe("forge runs tail", { timeout: CLI_TIMEOUT_MS }, () => {
  it("prints each step's result with the count of steps done and exits 0 when the run succeeds", async () => {
    const { forge, url } = await serving();
    const id = await create(forge, {
      graph: {
        steps: {
          fetch: { type: "noop" },
          note: { type: "artifact", deps: ["fetch"], params: { name: "n.txt", contentType: "text/plain", content: "hi" } },
          verify: { type: "noop", deps: ["note"] },
        },
      },
    });
    const tail = spawnCli(url, ["runs", "tail", id]);
    await tickOnce(forge);
    const out = await tail.done;
    expect(out).toMatchObject({ code: 0, stderr: "" });
    const shown = lines(out.stdout);
    expect(shown[0]).toBe("[1/3] succeeded  fetch (attempt 1)");
    expect(shown[1]).toMatch(/^\[2\/3\] succeeded {2}note \(attempt 1\): \{.*"name":"n\.txt"/);
    expect(shown.slice(2)).toEqual(["[3/3] succeeded  verify (attempt 1)", `run ${id} SUCCEEDED: 3/3 steps done`]);
  });

  it("exits 1 when the run fails, naming the step's error and the steps skipped", async () => {
    const { forge, url } = await serving();
    const id = await create(forge, {
      graph: {
        steps: {
          build: { type: "fail", params: { message: "compiler exploded" }, retry: { maxAttempts: 1 } },
          ship: { type: "noop", deps: ["build"] },
        },
      },
    });
    const tail = spawnCli(url, ["runs", "tail", id]);
    await tickOnce(forge);
    const out = await tail.done;
    expect(out).toMatchObject({ code: 1, stderr: "" });
    expect(lines(out.stdout)).toEqual([
      "[1/2] failed     build (attempt 1): compiler exploded",
      "[2/2] skipped    ship: a dependency did not succeed",
      `run ${id} FAILED: 2/2 steps done`,
    ]);
  });

  it("exits 2 when the run is cancelled while it is being tailed", async () => {
    const { forge, url } = await serving();
    const id = await create(forge, { graph: APPROVAL_GRAPH });
    await tickOnce(forge);
    const tail = spawnCli(url, ["runs", "tail", id]);
    // The waiting step's line comes from the subscription: the tail is following the run.
    await waitFor(() => tail.stdout().includes("waiting    approve"), "the tail to follow the run", 30_000);
    const { errors } = await forge.gql("mutation($id: ID!) { cancelRun(id: $id) { status } }", { id });
    expect(errors).toBeUndefined();
    const out = await tail.done;
    expect(out).toMatchObject({ code: 2, stderr: "" });
    expect(lines(out.stdout)).toEqual([
      "[1/3] succeeded  fetch (attempt 1)",
      "[1/3] waiting    approve",
      "[2/3] cancelled  approve",
      "[3/3] cancelled  ship",
      `run ${id} CANCELLED: 3/3 steps done`,
    ]);
  });

  it("resumes after the server restarts, from the last event seen: nothing missed while away, no line repeated", async () => {
    const graph = {
      steps: {
        fetch: { type: "noop" },
        approve: { type: "approval", deps: ["fetch"] },
        ship: { type: "noop", deps: ["approve"] },
        confirm: { type: "approval", deps: ["ship"] },
      },
    };
    const signal = (forge: TestForge, id: string, step: string) =>
      forge.gql("mutation($id: ID!, $step: String!) { signalRun(runId: $id, stepId: $step, payload: { ok: true }) { id } }", { id, step });
    const first = await startForge({ autoStop: false });
    let firstStopped = false;
    try {
      const url = await first.app.start();
      const port = new URL(url).port;
      const id = await create(first, { graph });
      await tickOnce(first);
      const tail = spawnCli(url, ["runs", "tail", id, "--retry-for", "30"]);
      await waitFor(() => tail.stdout().includes("waiting    approve"), "the tail to follow the run", 30_000);

      await first.stop();
      firstStopped = true;
      await waitFor(() => tail.stderr().includes("connection lost"), "the tail to notice the server went away", 30_000);
      // The same database, and later the same port: a restarted server. The run moves on
      // before it listens, while the tail cannot connect.
      const second = await startForge({ dbUrl: first.dbUrl, env: { FORGE_PORT: port } });
      expect((await signal(second, id, "approve")).errors).toBeUndefined();
      await tickOnce(second);
      await second.app.start();
      await waitFor(() => tail.stdout().includes("waiting    confirm"), "the tail to resume", 30_000);
      // And live events after the reconnect.
      expect((await signal(second, id, "confirm")).errors).toBeUndefined();
      await tickOnce(second);

      const out = await tail.done;
      expect(out.code).toBe(0);
      expect(lines(out.stdout)).toEqual([
        "[1/4] succeeded  fetch (attempt 1)",
        "[1/4] waiting    approve",
        '[2/4] succeeded  approve (attempt 1): {"ok":true}',
        "[3/4] succeeded  ship (attempt 1)",
        "[3/4] waiting    confirm",
        '[4/4] succeeded  confirm (attempt 1): {"ok":true}',
        `run ${id} SUCCEEDED: 4/4 steps done`,
      ]);
      // Each try said where it resumes from: after the step_waiting event of approve (seq 6).
      expect(lines(out.stderr).length).toBeGreaterThan(0);
      for (const line of lines(out.stderr)) expect(line).toMatch(/^forge: connection lost \(.*\); resuming after seq 6$/);
    } finally {
      if (!firstStopped) await first.stop();
    }
  });

  it("gives up with one line naming the server when it stays away longer than --retry-for, exit 1", async () => {
    const forge = await startForge({ autoStop: false });
    let stopped = false;
    try {
      const url = await forge.app.start();
      const id = await create(forge, { graph: APPROVAL_GRAPH });
      await tickOnce(forge);
      const tail = spawnCli(url, ["runs", "tail", id, "--retry-for", "1"]);
      await waitFor(() => tail.stdout().includes("waiting    approve"), "the tail to follow the run", 30_000);
      await forge.stop();
      stopped = true;
      const out = await tail.done;
      expect(out.code).toBe(1);
      const errors = lines(out.stderr);
      expect(errors.at(-1)).toBe(`forge: cannot reach ${url.replace(/^http/, "ws")}: connection refused`);
      for (const line of errors.slice(0, -1)) expect(line).toMatch(/^forge: connection lost \(.*\); resuming after seq 6$/);
      expect(out.stdout).not.toContain("run ");
    } finally {
      if (!stopped) await forge.stop();
    }
  });

  it.runIf(dialect === "postgres")(
    "gives up after --retry-for when the server answers but its database does not (each refused subscription counts)",
    async () => {
      const server = await startPrivatePostgres();
      onTestFinished(() => server.stop());
      const forge = await startForge({ dbUrl: server.url, env: { FORGE_PG_CONNECT_TIMEOUT_MS: "500" } });
      const url = await forge.app.start();
      const id = await create(forge, { graph: APPROVAL_GRAPH });
      await tickOnce(forge);
      // The tail goes through a TCP proxy, so the test can drop its connection.
      const target = new URL(url);
      const sockets = new Set<Socket>();
      const proxy = createServer((client) => {
        const upstream = connect(Number(target.port), target.hostname);
        sockets.add(client).add(upstream);
        client.pipe(upstream).pipe(client);
        const close = () => {
          client.destroy();
          upstream.destroy();
        };
        client.on("error", close).on("close", close);
        upstream.on("error", close).on("close", close);
      });
      await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", () => resolve()));
      onTestFinished(() => new Promise<void>((resolve) => proxy.close(() => resolve())));
      const proxied = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/graphql`;
      const tail = spawnCli(proxied, ["runs", "tail", id, "--retry-for", "3"]);
      await waitFor(() => tail.stdout().includes("waiting    approve"), "the tail to follow the run", 30_000);
      server.halt();
      // Dropped: the server accepts each new connection, then refuses its subscription (no database).
      for (const socket of sockets) socket.destroy();
      const out = await tail.done;
      expect(out.code).toBe(1);
      const errors = lines(out.stderr);
      expect(errors.at(-1)).toMatch(/^forge: cannot reach ws:\/\/127\.0\.0\.1:\d+\/graphql: /);
      // Backed off, not a reconnection every few milliseconds.
      expect(errors.length).toBeLessThan(12);
      await server.resume();
    },
    90_000,
  );

  it.skipIf(!hasScript)("draws a progress bar of steps done when stdout is a terminal, with each step's line above it", async () => {
    const { forge, url } = await serving();
    const id = await create(forge, { graph: APPROVAL_GRAPH });
    await tickOnce(forge);
    // script(1) gives the CLI a pseudo-terminal for its stdout.
    const command = [process.execPath, "--import", "tsx", MAIN, "--url", url, "runs", "tail", id].join(" ");
    const child = spawn("script", ["-qfec", command, "/dev/null"], {
      env: { ...process.env, FORGE_TOKEN: ADMIN },
      stdio: ["ignore", "pipe", "pipe"],
    });
    onTestFinished(() => {
      if (child.exitCode === null) child.kill("SIGKILL");
    });
    let screen = "";
    child.stdout.on("data", (d) => {
      screen += d;
    });
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    await waitFor(() => screen.includes("waiting    approve"), "the tail to follow the run", 30_000);
    await forge.gql('mutation($id: ID!) { signalRun(runId: $id, stepId: "approve") { id } }', { id });
    await tickOnce(forge);
    expect(await exited).toBe(0);
    expect(screen).toContain("\x1b[?25l"); // the cursor hidden while the bar is drawn
    expect(screen).toContain("\u2588".repeat(40));
    for (const done of ["0/3 steps", "1/3 steps", "3/3 steps"]) expect(screen).toContain(done);
    const text = screen
      .replace(ANSI_CONTROL, "\n")
      .replace(/\r/g, "")
      .split("\n")
      .filter((line) => line.trim() !== "" && !/[\u2588\u2591]/.test(line));
    expect(text).toEqual([
      "succeeded  fetch (attempt 1)",
      "waiting    approve",
      "succeeded  approve (attempt 1)",
      "succeeded  ship (attempt 1)",
      `run ${id} SUCCEEDED: 3/3 steps done`,
    ]);
  });

  it("prints every event as one JSON line with --json", async () => {
    const { forge, url } = await serving();
    const id = await create(forge);
    await tickOnce(forge);
    const out = await cli(url, ["runs", "tail", id, "--json"]);
    expect(out.code).toBe(0);
    const events = lines(out.stdout).map((line) => JSON.parse(line) as { seq: number; type: string; runId: string });
    expect(events.map((e) => [e.seq, e.type])).toEqual([
      [1, "run_created"],
      [2, "run_started"],
      [3, "step_started"],
      [4, "step_succeeded"],
      [5, "run_succeeded"],
    ]);
  });

  it("an unknown run is NOT_FOUND on one line, exit 1", async () => {
    const { url } = await serving();
    const out = await cli(url, ["runs", "tail", "r_404"]);
    expect(out).toMatchObject({ code: 1, stdout: "" });
    expect(lines(out.stderr)).toEqual(['forge: NOT_FOUND: run "r_404" does not exist']);
  });
});

describe("forge runs cancel and signal", { timeout: CLI_TIMEOUT_MS }, () => {
  it("cancel makes a run CANCELLED, says so when it had finished, and needs the admin token", async () => {
    const { forge, url } = await serving();
    const id = await create(forge, { graph: APPROVAL_GRAPH });
    const refused = await cli(url, ["runs", "cancel", id], null);
    expect(refused.code).toBe(1);
    expect(lines(refused.stderr)).toEqual([
      "forge: FORBIDDEN: this operation needs the admin token (Authorization: Bearer <FORGE_ADMIN_TOKEN>)",
    ]);
    expect(await runStatus(forge, id)).toBe("PENDING");

    expect(await cli(url, ["runs", "cancel", id])).toMatchObject({ code: 0, stdout: `run ${id} CANCELLED\n`, stderr: "" });
    expect(await runStatus(forge, id)).toBe("CANCELLED");
    const again = await cli(url, ["runs", "cancel", id, "--json"]);
    expect(JSON.parse(again.stdout)).toMatchObject({ id, status: "CANCELLED" });

    const done = await create(forge);
    await tickOnce(forge);
    expect((await cli(url, ["runs", "cancel", done])).stdout).toBe(`run ${done} was already SUCCEEDED: nothing to cancel\n`);
    const unknown = await cli(url, ["runs", "cancel", "r_123"]);
    expect(unknown.code).toBe(1);
    expect(lines(unknown.stderr)).toEqual(['forge: NOT_FOUND: run "r_123" does not exist']);
  });

  it("signal delivers a JSON payload to a waiting approval; bad JSON is refused first, a step not waiting is BAD_USER_INPUT", async () => {
    const { forge, url } = await serving();
    const id = await create(forge, { graph: APPROVAL_GRAPH });
    await tickOnce(forge);

    const badJson = await cli(url, ["runs", "signal", id, "approve", "--payload", "{ok: true}"]);
    expect(badJson.code).toBe(2);
    expect(lines(badJson.stderr)).toHaveLength(1);
    expect(badJson.stderr).toMatch(/^forge: option '--payload <json>' argument '\{ok: true\}' is invalid\. is not valid JSON/);

    const notWaiting = await cli(url, ["runs", "signal", id, "ship"]);
    expect(notWaiting.code).toBe(1);
    expect(lines(notWaiting.stderr)).toEqual([
      'forge: BAD_USER_INPUT: stepId: noop step "ship" is not waiting for a signal (it is PENDING)',
    ]);

    const signalled = await cli(url, ["runs", "signal", id, "approve", "--payload", '{"approver":"bob"}']);
    expect(signalled).toMatchObject({ code: 0, stderr: "" });
    expect(signalled.stdout).toMatch(new RegExp(`^signalled step approve of run ${id}`));
    await tickOnce(forge);
    const { data } = await forge.gql("query($id: ID!) { run(id: $id) { status steps { stepId output } } }", { id });
    expect(data.run.status).toBe("SUCCEEDED");
    expect(data.run.steps[1]).toEqual({ stepId: "approve", output: { approver: "bob" } });
  });
});

/** A record as `runs show`, `runs rerun` and `tick` print it: `key:  value` lines, as a map. */
function recordOf(text: string): Map<string, string> {
  const entries = new Map<string, string>();
  for (const line of lines(text)) {
    const match = /^([a-z][a-z ()-]*):\s+(.*)$/.exec(line);
    if (match) entries.set(match[1] as string, match[2] as string);
  }
  return entries;
}

async function gqlData<T = any>(forge: TestForge, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const { data, errors } = await forge.gql(query, variables);
  expect(errors).toBeUndefined();
  return data as T;
}

interface ReadBack {
  id: string;
  status: string;
  rerunOf: string | null;
  reruns: string[];
  steps: Array<{ stepId: string; status: string; attempts: number }>;
}

async function readRun(forge: TestForge, id: string): Promise<ReadBack | null> {
  const data = await gqlData<{ run: ReadBack | null }>(
    forge,
    "query($id: ID!) { run(id: $id) { id status rerunOf reruns steps { stepId status attempts } } }",
    { id },
  );
  return data.run;
}

/** a and b succeed, c fails for good: a run that FAILED with two steps worth reusing. */
const FAILING_CHAIN = {
  steps: {
    a: { type: "noop" },
    b: { type: "noop", deps: ["a"] },
    c: { type: "fail", deps: ["b"], params: { message: "flaky disk" }, retry: { maxAttempts: 1 } },
  },
};

const FAILING = { steps: { only: { type: "fail", params: { message: "no" }, retry: { maxAttempts: 1 } } } };

const FORBIDDEN_ADMIN = "forge: FORBIDDEN: this operation needs the admin token (Authorization: Bearer <FORGE_ADMIN_TOKEN>)";

describe("forge runs rerun", { timeout: CLI_TIMEOUT_MS }, () => {
  it("re-runs a failed run as a new PENDING run: without --from-step every step that succeeded is reused, with --from-step that step and the ones after it run again", async () => {
    const { forge, url } = await serving();
    const id = await create(forge, { graph: FAILING_CHAIN });
    await tickOnce(forge);
    expect(await runStatus(forge, id)).toBe("FAILED");

    const all = await cli(url, ["runs", "rerun", id]);
    expect(all).toMatchObject({ code: 0, stderr: "" });
    const printed = recordOf(all.stdout);
    const first = printed.get("id") as string;
    expect(first).toBeDefined();
    expect(first).not.toBe(id);
    expect(Object.fromEntries(printed)).toEqual({ id: first, status: "PENDING", "rerun of": id, reused: "a, b", "to run": "c" });
    expect(await readRun(forge, first)).toMatchObject({
      status: "PENDING",
      rerunOf: id,
      steps: [
        { stepId: "a", status: "SUCCEEDED", attempts: 0 },
        { stepId: "b", status: "SUCCEEDED", attempts: 0 },
        { stepId: "c", status: "PENDING", attempts: 0 },
      ],
    });

    // Re-runs are listed oldest first: a second later, so that their order is not left to their ids.
    (forge.clock as TestClock).advance(1000);
    const fromB = await cli(url, ["runs", "rerun", id, "--from-step", "b", "--json"]);
    expect(fromB).toMatchObject({ code: 0, stderr: "" });
    const second = JSON.parse(fromB.stdout) as ReadBack;
    expect(second).toMatchObject({ status: "PENDING", rerunOf: id, reruns: [] });
    expect(second.steps.map((s) => [s.stepId, s.status, s.attempts])).toEqual([
      ["a", "SUCCEEDED", 0],
      ["b", "PENDING", 0],
      ["c", "PENDING", 0],
    ]);
    expect((await readRun(forge, id))?.reruns).toEqual([first, second.id]);

    // Followed, the re-run counts its reused step as done from the start.
    const tail = spawnCli(url, ["runs", "tail", second.id]);
    await tickOnce(forge);
    const out = await tail.done;
    expect(out).toMatchObject({ code: 1, stderr: "" });
    expect(lines(out.stdout)).toEqual([
      `[1/3] reused     a (from run ${id})`,
      "[2/3] succeeded  b (attempt 1)",
      "[3/3] failed     c (attempt 1): flaky disk",
      `run ${second.id} FAILED: 3/3 steps done`,
    ]);
  });

  it("a run not finished and an unknown --from-step are the API's BAD_USER_INPUT, an unknown run NOT_FOUND, each on one line, exit 1; it needs the admin token", async () => {
    const { forge, url } = await serving();
    const succeeded = await create(forge);
    const failed = await create(forge, { graph: FAILING_CHAIN });
    await tickOnce(forge);
    const running = await create(forge, { graph: APPROVAL_GRAPH });
    await tickOnce(forge);
    const [notDone, noStep, unknown, refused] = await Promise.all([
      cli(url, ["runs", "rerun", running]),
      cli(url, ["runs", "rerun", failed, "--from-step", "deploy"]),
      cli(url, ["runs", "rerun", "r_404"]),
      cli(url, ["runs", "rerun", failed], null),
    ]);
    for (const out of [notDone, noStep, unknown, refused]) {
      expect(out).toMatchObject({ code: 1, stdout: "" });
      expect(lines(out.stderr)).toHaveLength(1);
    }
    expect(notDone.stderr).toMatch(new RegExp(`^forge: BAD_USER_INPUT: id: run "${running}" is RUNNING`));
    expect(noStep.stderr).toMatch(/^forge: BAD_USER_INPUT: fromStep: .*"deploy"/);
    expect(lines(unknown.stderr)).toEqual([expect.stringMatching(/^forge: NOT_FOUND: .*r_404/)]);
    expect(lines(refused.stderr)).toEqual([FORBIDDEN_ADMIN]);
    expect((await readRun(forge, failed))?.reruns).toEqual([]);
    expect(await runStatus(forge, succeeded)).toBe("SUCCEEDED");
    expect(await runCount(forge)).toBe(3);
  });
});

describe("forge runs show and list: why a run waits, and its re-runs", { timeout: CLI_TIMEOUT_MS }, () => {
  it("show prints waiting (reason, until, detail) while a run waits and not once it is finished; list has a WAITING column with the reason", async () => {
    const { forge, url } = await serving();
    const done = await create(forge);
    await tickOnce(forge);
    const approval = await create(forge, { graph: APPROVAL_GRAPH });
    const retrying = await create(forge, {
      graph: { steps: { flaky: { type: "fail", params: { times: 1 }, retry: { maxAttempts: 2, backoffMs: 60_000 } } } },
    });
    await tickOnce(forge);
    const wakeAt = new Date(forge.clock.now().getTime() + 60_000).toISOString();
    const queued = await create(forge);

    const shown = async (id: string) => {
      const out = await cli(url, ["runs", "show", id]);
      expect(out).toMatchObject({ code: 0, stderr: "" });
      return recordOf(out.stdout);
    };
    const [q, s, r, d] = await Promise.all([shown(queued), shown(approval), shown(retrying), shown(done)]);
    expect(q.get("waiting")).toMatch(/^QUEUED - \S/);
    expect(s.get("waiting")).toMatch(/^SIGNAL - .*approve/);
    expect(r.get("waiting")).toMatch(new RegExp(`^RETRY_BACKOFF until ${time(wakeAt)} - \\S`));
    expect(d.has("waiting")).toBe(false);
    expect(d.get("status")).toBe("SUCCEEDED");

    const json = JSON.parse((await cli(url, ["runs", "show", retrying, "--json"])).stdout) as { waiting: unknown };
    expect(json.waiting).toEqual({ reason: "RETRY_BACKOFF", until: wakeAt, detail: expect.any(String) });

    const list = await cli(url, ["runs", "list"]);
    expect(list).toMatchObject({ code: 0, stderr: "" });
    const [head, ...rows] = lines(list.stdout).map((line) => line.split(/\s{2,}/));
    expect(head?.slice(0, 4)).toEqual(["ID", "STATUS", "WAITING", "JOB TYPE"]);
    expect(rows.map((row) => row.slice(0, 3))).toEqual([
      [queued, "PENDING", "QUEUED"],
      [retrying, "RUNNING", "RETRY_BACKOFF"],
      [approval, "RUNNING", "SIGNAL"],
      [done, "SUCCEEDED", "-"],
    ]);
  });

  it("show prints rerun of on a re-run and reruns on the run it re-ran, and neither on a run without them", async () => {
    const { forge, url } = await serving();
    const id = await create(forge, { graph: FAILING_CHAIN });
    await tickOnce(forge);
    const one = JSON.parse((await cli(url, ["runs", "rerun", id, "--json"])).stdout).id as string;
    (forge.clock as TestClock).advance(1000);
    const two = JSON.parse((await cli(url, ["runs", "rerun", id, "--json"])).stdout).id as string;
    const [original, rerun] = await Promise.all([cli(url, ["runs", "show", id]), cli(url, ["runs", "show", one])]);
    expect(recordOf(original.stdout).get("reruns")).toBe(`${one}, ${two}`);
    expect(recordOf(original.stdout).has("rerun of")).toBe(false);
    expect(recordOf(rerun.stdout).get("rerun of")).toBe(id);
    expect(recordOf(rerun.stdout).has("reruns")).toBe(false);
    const plain = await create(forge);
    const shown = recordOf((await cli(url, ["runs", "show", plain])).stdout);
    expect([shown.has("rerun of"), shown.has("reruns")]).toEqual([false, false]);
    expect(JSON.parse((await cli(url, ["runs", "show", one, "--json"])).stdout)).toMatchObject({ rerunOf: id, reruns: [] });
  });
});

describe("forge runs cancel-matching and rerun-matching", { timeout: CLI_TIMEOUT_MS }, () => {
  it("cancel-matching --dry-run counts and lists the runs it would cancel and changes nothing; then it cancels them and they read back CANCELLED", async () => {
    const { forge, url } = await serving();
    const finished = await create(forge, { lane: "batch" });
    await tickOnce(forge);
    const a = await create(forge, { lane: "batch" });
    const b = await create(forge, { lane: "batch", graph: APPROVAL_GRAPH });
    await tickOnce(forge);
    const c = await create(forge, { lane: "batch" });
    const elsewhere = await create(forge, { lane: "other" });
    const statuses = () => Promise.all([finished, a, b, c, elsewhere].map((id) => runStatus(forge, id)));
    expect(await statuses()).toEqual(["SUCCEEDED", "SUCCEEDED", "RUNNING", "PENDING", "PENDING"]);

    const refused = await cli(url, ["runs", "cancel-matching", "--lane", "batch"], null);
    expect(refused).toMatchObject({ code: 1, stdout: "" });
    expect(lines(refused.stderr)).toEqual([FORBIDDEN_ADMIN]);

    const dry = await cli(url, ["runs", "cancel-matching", "--lane", "batch", "--dry-run"]);
    expect(dry).toMatchObject({ code: 0, stderr: "" });
    const [counts, ids] = dry.stdout.split("\n\n");
    expect(lines(counts as string)).toEqual(["matched:      4", "would cancel: 2", "dry run:      nothing was changed"]);
    expect(lines(ids as string).sort()).toEqual([b, c].sort());
    expect(await statuses()).toEqual(["SUCCEEDED", "SUCCEEDED", "RUNNING", "PENDING", "PENDING"]);

    const done = await cli(url, ["runs", "cancel-matching", "--lane", "batch"]);
    expect(done).toMatchObject({ code: 0, stderr: "" });
    const [doneCounts, doneIds] = done.stdout.split("\n\n");
    expect(lines(doneCounts as string)).toEqual(["matched:   4", "cancelled: 2"]);
    expect(lines(doneIds as string).sort()).toEqual([b, c].sort());
    expect(await statuses()).toEqual(["SUCCEEDED", "SUCCEEDED", "CANCELLED", "CANCELLED", "PENDING"]);

    // Again: the same runs match, and none is left to cancel.
    const again = await cli(url, ["runs", "cancel-matching", "--lane", "batch", "--json"]);
    expect(JSON.parse(again.stdout)).toEqual({ matched: 4, affected: 0, runIds: [], dryRun: false });
    expect(lines(again.stderr)).toEqual([]);
  });

  it("each filter option narrows the match: --id (repeatable, several values), --status, --job-type, --lane, --created-after, --created-before", async () => {
    const { forge, url } = await serving();
    const r1 = await create(forge, { jobType: "build", lane: "fast" }); // created 00:00:01
    await tickOnce(forge);
    const r2 = await create(forge, { jobType: "build", lane: "slow" }); // 00:00:02
    const r3 = await create(forge, { jobType: "deploy", lane: "fast" }); // 00:00:03
    const r4 = await create(forge, { jobType: "deploy", lane: "slow" }); // 00:00:04
    const matched = async (args: string[]) => {
      const out = await cli(url, ["runs", "cancel-matching", "--dry-run", "--json", ...args]);
      expect(out, args.join(" ")).toMatchObject({ code: 0, stderr: "" });
      const result = JSON.parse(out.stdout) as { matched: number; affected: number; runIds: string[]; dryRun: boolean };
      expect(result.dryRun).toBe(true);
      return [result.matched, [...result.runIds].sort()];
    };
    const sorted = (...ids: string[]) => [...ids].sort();
    const results = await Promise.all([
      matched(["--id", r1, r2, "--id", r3]),
      matched(["--status", "pending"]),
      matched(["--status", "SUCCEEDED", "PENDING"]),
      matched(["--job-type", "deploy"]),
      matched(["--lane", "slow"]),
      matched(["--lane", "fast", "--job-type", "build"]),
      matched(["--created-after", "2026-01-01T00:00:02.500Z"]),
      matched(["--created-before", "2026-01-01T01:00:02.500+01:00"]),
      matched(["--created-after", "2026-01-01T00:00:01.500Z", "--created-before", "2026-01-01T00:00:03.500Z"]),
      matched(["--lane", "nowhere"]),
    ]);
    expect(results).toEqual([
      [3, sorted(r2, r3)],
      [3, sorted(r2, r3, r4)],
      [4, sorted(r2, r3, r4)],
      [2, sorted(r3, r4)],
      [2, sorted(r2, r4)],
      [1, []],
      [2, sorted(r3, r4)],
      [2, sorted(r2)],
      [2, sorted(r2, r3)],
      [0, []],
    ]);
    expect(await runStatus(forge, r2)).toBe("PENDING");
    expect((await cli(url, ["runs", "cancel-matching", "--lane", "nowhere"])).stdout).toBe("matched:   0\ncancelled: 0\n");
  });

  it("rerun-matching re-runs each FAILED or CANCELLED run the filter matches once, --dry-run first changing nothing; it lists the original runs", async () => {
    const { forge, url } = await serving();
    const failed1 = await create(forge, { jobType: "nightly", graph: FAILING });
    const failed2 = await create(forge, { jobType: "nightly", graph: FAILING });
    const succeeded = await create(forge, { jobType: "nightly" });
    await tickOnce(forge);
    const cancelled = await create(forge, { jobType: "nightly" });
    await gqlData(forge, "mutation($id: ID!) { cancelRun(id: $id) { id } }", { id: cancelled });
    const other = await create(forge, { jobType: "hourly", graph: FAILING });
    await tickOnce(forge);
    const originals = [failed1, failed2, cancelled];

    const dry = await cli(url, ["runs", "rerun-matching", "--job-type", "nightly", "--dry-run"]);
    expect(dry).toMatchObject({ code: 0, stderr: "" });
    const [counts, ids] = dry.stdout.split("\n\n");
    expect(lines(counts as string)).toEqual(["matched:      4", "would re-run: 3", "dry run:      nothing was changed"]);
    expect(lines(ids as string).sort()).toEqual([...originals].sort());
    expect(await runCount(forge)).toBe(5);

    const done = await cli(url, ["runs", "rerun-matching", "--job-type", "nightly", "--status", "FAILED", "CANCELLED"]);
    expect(done).toMatchObject({ code: 0, stderr: "" });
    const [doneCounts, doneIds] = done.stdout.split("\n\n");
    expect(lines(doneCounts as string)).toEqual(["matched: 3", "re-run:  3"]);
    expect(lines(doneIds as string).sort()).toEqual([...originals].sort());
    expect(await runCount(forge)).toBe(8);
    for (const id of originals) {
      const run = await readRun(forge, id);
      expect(run?.reruns, id).toHaveLength(1);
      expect((await readRun(forge, run?.reruns[0] as string))?.rerunOf).toBe(id);
    }
    expect((await readRun(forge, succeeded))?.reruns).toEqual([]);
    expect((await readRun(forge, other))?.reruns).toEqual([]);

    // Once re-run, a run is not re-run again by the same filter.
    const again = await cli(url, ["runs", "rerun-matching", "--job-type", "nightly", "--status", "FAILED", "CANCELLED", "--json"]);
    expect(JSON.parse(again.stdout)).toEqual({ matched: 3, affected: 0, runIds: [], dryRun: false });
    expect(await runCount(forge)).toBe(8);
  });

  it("an empty filter, a bad instant, an empty range and an unknown status are refused with exit 2 and one line, before any request", async () => {
    // No server at all: a request would be "cannot reach", exit 1.
    const nowhere = `http://127.0.0.1:${await closedPort()}/graphql`;
    const empty =
      "forge: no filter given: name the runs with --id, --status, --job-type, --lane, --created-after or --created-before (an empty filter would match every run)";
    const cases: Array<[string[], string]> = [
      [["runs", "cancel-matching"], empty],
      [["runs", "cancel-matching", "--dry-run"], empty],
      [["runs", "rerun-matching", "--json"], empty],
      [
        ["runs", "cancel-matching", "--created-after", "yesterday"],
        "forge: option '--created-after <instant>' argument 'yesterday' is invalid. must be an ISO 8601 instant",
      ],
      [
        ["runs", "rerun-matching", "--created-before", "2026-02-30"],
        "forge: option '--created-before <instant>' argument '2026-02-30' is invalid.",
      ],
      [
        ["runs", "cancel-matching", "--created-before", "2026-01-01T10:00:00"],
        "forge: option '--created-before <instant>' argument '2026-01-01T10:00:00' is invalid.",
      ],
      [
        ["runs", "cancel-matching", "--created-after", "2026-03-01", "--created-before", "2026-02-01"],
        "forge: option '--created-after' (2026-03-01 00:00:00) is not before option '--created-before' (2026-02-01 00:00:00): no run could match",
      ],
      [
        ["runs", "cancel-matching", "--status", "DONE"],
        "forge: option '--status <status...>' argument 'DONE' is invalid. must be one of PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED.",
      ],
      [["runs", "cancel-matching", "--lane", ""], "forge: option '--lane <lane>' argument '' is invalid. must not be empty."],
    ];
    const outs = await Promise.all(cases.map(([args]) => cli(nowhere, args)));
    for (const [i, [args, message]] of cases.entries()) {
      const out = outs[i] as CliRun;
      expect(out.code, args.join(" ")).toBe(2);
      expect(out.stdout, args.join(" ")).toBe("");
      expect(lines(out.stderr), args.join(" ")).toHaveLength(1);
      expect(out.stderr.startsWith(message), `${out.stderr} starts with ${message}`).toBe(true);
    }

    // And against a server: nothing is cancelled.
    const { forge, url } = await serving();
    const id = await create(forge);
    const refused = await cli(url, ["runs", "cancel-matching"]);
    expect(refused).toMatchObject({ code: 2, stdout: "", stderr: `${empty}\n` });
    expect(await runStatus(forge, id)).toBe("PENDING");
  });
});

describe("forge pause, resume and pauses list", { timeout: CLI_TIMEOUT_MS }, () => {
  it("pause holds a lane's runs (waiting PAUSED), pauses list shows it, and resume lets them go on at the next tick", async () => {
    const { forge, url } = await serving();
    const pausedAt = time(forge.clock.now().toISOString());
    const paused = await cli(url, ["pause", "--lane", "slow", "--reason", "database maintenance"]);
    expect(paused).toMatchObject({ code: 0, stderr: "", stdout: `paused lane slow since ${pausedAt} (database maintenance)\n` });

    const held = await create(forge, { lane: "slow" });
    const free = await create(forge, { lane: "fast" });
    await tickOnce(forge);
    expect([await runStatus(forge, held), await runStatus(forge, free)]).toEqual(["PENDING", "SUCCEEDED"]);
    expect(recordOf((await cli(url, ["runs", "show", held])).stdout).get("waiting")).toMatch(/^PAUSED - \S/);
    const listed = lines((await cli(url, ["runs", "list", "--lane", "slow"])).stdout).map((line) => line.split(/\s{2,}/).slice(0, 3));
    expect(listed[1]).toEqual([held, "PENDING", "PAUSED"]);

    const table = await cli(url, ["pauses", "list"]);
    expect(table).toMatchObject({ code: 0, stderr: "" });
    expect(lines(table.stdout).map((line) => line.split(/\s{2,}/))).toEqual([
      ["LANE", "JOB TYPE", "PAUSED", "REASON"],
      ["slow", "*", pausedAt, "database maintenance"],
    ]);

    // Paused again: the reason is replaced, the time it was paused is kept.
    (forge.clock as TestClock).advance(60_000);
    const again = await cli(url, ["pause", "--lane", "slow", "--reason", "still migrating", "--json"]);
    expect(JSON.parse(again.stdout)).toEqual({ lane: "slow", jobType: null, pausedAt: expect.any(String), reason: "still migrating" });
    expect(time(JSON.parse(again.stdout).pausedAt)).toBe(pausedAt);

    const resumed = await cli(url, ["resume", "--lane", "slow"]);
    expect(resumed).toMatchObject({ code: 0, stderr: "", stdout: "resumed lane slow: its runs go on at the next tick\n" });
    expect(await runStatus(forge, held)).toBe("PENDING");
    await tickOnce(forge);
    expect(await runStatus(forge, held)).toBe("SUCCEEDED");
    expect(await cli(url, ["pauses", "list"])).toMatchObject({ code: 0, stdout: "nothing is paused\n" });
    expect(JSON.parse((await cli(url, ["pauses", "list", "--json"])).stdout)).toEqual([]);
  });

  it("a job type in a lane is paused, listed and resumed as that pair; resume of what is not paused exits 1 naming it; the pauses need the admin token", async () => {
    const { forge, url } = await serving();
    expect((await cli(url, ["pause", "--job-type", "deploy", "--lane", "prod"])).stdout).toMatch(
      /^paused job type deploy in lane prod since \S+ \S+\n$/,
    );
    (forge.clock as TestClock).advance(1000);
    expect((await cli(url, ["pause", "--job-type", "backfill"])).stdout).toMatch(/^paused job type backfill since \S+ \S+\n$/);
    const prodDeploy = await create(forge, { jobType: "deploy", lane: "prod" });
    const prodBuild = await create(forge, { jobType: "build", lane: "prod" });
    const stagingDeploy = await create(forge, { jobType: "deploy", lane: "staging" });
    await tickOnce(forge);
    expect(await Promise.all([prodDeploy, prodBuild, stagingDeploy].map((id) => runStatus(forge, id)))).toEqual([
      "PENDING",
      "SUCCEEDED",
      "SUCCEEDED",
    ]);
    const listed = JSON.parse((await cli(url, ["pauses", "list", "--json"])).stdout) as Array<{ lane: string | null; jobType: string }>;
    expect(listed.map((p) => [p.lane, p.jobType])).toEqual([
      ["prod", "deploy"],
      [null, "backfill"],
    ]);
    expect(lines((await cli(url, ["pauses", "list"])).stdout).map((line) => line.split(/\s{2,}/).slice(0, 2))).toEqual([
      ["LANE", "JOB TYPE"],
      ["prod", "deploy"],
      ["*", "backfill"],
    ]);

    // resume lifts exactly the pause named: --lane prod alone is not the pause of deploy in prod.
    const [laneOnly, unknown, json] = await Promise.all([
      cli(url, ["resume", "--lane", "prod"]),
      cli(url, ["resume", "--job-type", "deploy", "--lane", "prd"]),
      cli(url, ["resume", "--job-type", "nightly", "--json"]),
    ]);
    expect(laneOnly).toMatchObject({ code: 1, stdout: "" });
    expect(lines(laneOnly.stderr)).toEqual(["forge: nothing was paused for lane prod (forge pauses list shows what is)"]);
    expect(unknown.code).toBe(1);
    expect(lines(unknown.stderr)).toEqual(["forge: nothing was paused for job type deploy in lane prd (forge pauses list shows what is)"]);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual({ lane: null, jobType: "nightly", resumed: false });
    expect(JSON.parse((await cli(url, ["pauses", "list", "--json"])).stdout)).toHaveLength(2);

    expect(await cli(url, ["resume", "--lane", "prod", "--job-type", "deploy", "--json"])).toMatchObject({
      code: 0,
      stdout: `${JSON.stringify({ lane: "prod", jobType: "deploy", resumed: true }, null, 2)}\n`,
    });
    await tickOnce(forge);
    expect(await runStatus(forge, prodDeploy)).toBe("SUCCEEDED");

    const refused = await Promise.all([
      cli(url, ["pauses", "list"], null),
      cli(url, ["pause", "--lane", "x"], null),
      cli(url, ["resume", "--job-type", "backfill"], null),
    ]);
    for (const out of refused) expect(out).toMatchObject({ code: 1, stdout: "", stderr: `${FORBIDDEN_ADMIN}\n` });
    expect(JSON.parse((await cli(url, ["pauses", "list", "--json"])).stdout)).toHaveLength(1);
  });

  it("pause and resume without --lane or --job-type are refused with exit 2 before any request", async () => {
    const nowhere = `http://127.0.0.1:${await closedPort()}/graphql`;
    const [pauseOut, pauseReason, resumeOut, emptyLane] = await Promise.all([
      cli(nowhere, ["pause"]),
      cli(nowhere, ["pause", "--reason", "why not"]),
      cli(nowhere, ["resume", "--json"]),
      cli(nowhere, ["pause", "--lane", " "]),
    ]);
    expect(pauseOut).toMatchObject({ code: 2, stdout: "", stderr: "forge: nothing to pause: give --lane, --job-type or both\n" });
    expect(pauseReason).toMatchObject({ code: 2, stdout: "", stderr: "forge: nothing to pause: give --lane, --job-type or both\n" });
    expect(resumeOut).toMatchObject({ code: 2, stdout: "", stderr: "forge: nothing to resume: give --lane, --job-type or both\n" });
    expect(emptyLane).toMatchObject({
      code: 2,
      stdout: "",
      stderr: "forge: option '--lane <lane>' argument ' ' is invalid. must not be empty.\n",
    });
  });
});

describe("forge prune", { timeout: CLI_TIMEOUT_MS }, () => {
  it("--dry-run counts the runs, events and artifacts it would delete and deletes nothing; then prune deletes exactly those", async () => {
    const { forge, url } = await serving();
    const plain = await create(forge);
    const withArtifact = await create(forge, {
      graph: {
        steps: {
          fetch: { type: "noop" },
          note: { type: "artifact", deps: ["fetch"], params: { name: "n.txt", contentType: "text/plain", content: "hi" } },
        },
      },
    });
    const failed = await create(forge, { graph: FAILING });
    await tickOnce(forge);
    (forge.clock as TestClock).advance(500);
    const cutoff = forge.clock.now().toISOString();
    (forge.clock as TestClock).advance(10_000);
    const newer = await create(forge);
    await tickOnce(forge);
    const pending = await create(forge);
    const old = [plain, withArtifact, failed];
    const counts = await Promise.all(
      old.map((id) =>
        gqlData<{ run: { eventCount: number; artifacts: unknown[] } }>(
          forge,
          "query($id: ID!) { run(id: $id) { eventCount artifacts { name } } }",
          { id },
        ),
      ),
    );
    const events = counts.reduce((sum, c) => sum + c.run.eventCount, 0);
    expect(counts.map((c) => c.run.artifacts.length)).toEqual([0, 1, 0]);

    const dry = await cli(url, ["prune", "--finished-before", cutoff, "--dry-run"]);
    expect(dry).toMatchObject({ code: 0, stderr: "" });
    expect(lines(dry.stdout)).toEqual([
      `would prune SUCCEEDED, FAILED, CANCELLED runs finished before ${time(cutoff)} (dry run: nothing was deleted)`,
      "runs:      3",
      `events:    ${events}`,
      "artifacts: 1",
    ]);
    expect(await runCount(forge)).toBe(5);
    for (const id of old) expect(await readRun(forge, id), id).not.toBeNull();

    const json = await cli(url, ["prune", "--finished-before", cutoff, "--dry-run", "--json"]);
    expect(JSON.parse(json.stdout)).toEqual({ runs: 3, events, artifacts: 1, dryRun: true, finishedBefore: cutoff });

    const done = await cli(url, ["prune", "--finished-before", cutoff]);
    expect(done).toMatchObject({ code: 0, stderr: "" });
    expect(lines(done.stdout)).toEqual([
      `pruned SUCCEEDED, FAILED, CANCELLED runs finished before ${time(cutoff)}`,
      "runs:      3",
      `events:    ${events}`,
      "artifacts: 1",
    ]);
    for (const id of old) expect(await readRun(forge, id), id).toBeNull();
    expect(await runStatus(forge, newer)).toBe("SUCCEEDED");
    expect(await runStatus(forge, pending)).toBe("PENDING");
    expect(JSON.parse((await cli(url, ["prune", "--finished-before", cutoff, "--json"])).stdout)).toMatchObject({
      runs: 0,
      events: 0,
      artifacts: 0,
    });

    const refused = await cli(url, ["prune", "--finished-before", cutoff], null);
    expect(refused).toMatchObject({ code: 1, stdout: "", stderr: `${FORBIDDEN_ADMIN}\n` });
  });

  it("--older-than counts back from now and --status narrows; both or neither of --finished-before and --older-than, a bad duration or a status not finished are refused with exit 2 before any request", async () => {
    // The server's clock two days behind this machine's: its runs finished about two days ago.
    const forge = await startForge({ clock: new TestClock(new Date(Date.now() - 2 * 86_400_000)) });
    const url = await forge.app.start();
    const succeeded = await create(forge);
    const failed = await create(forge, { graph: FAILING });
    await tickOnce(forge);
    // A cutoff after the server's own now is taken as its now: let its clock pass this machine's.
    (forge.clock as TestClock).advance(3 * 86_400_000);
    const pruned = async (args: string[]) => {
      const out = await cli(url, ["prune", "--json", ...args]);
      expect(out, args.join(" ")).toMatchObject({ code: 0, stderr: "" });
      return (JSON.parse(out.stdout) as { runs: number }).runs;
    };
    expect(await pruned(["--older-than", "3d", "--dry-run"])).toBe(0);
    expect(await pruned(["--older-than", "36h", "--dry-run"])).toBe(2);
    expect(await pruned(["--older-than", "1d", "--status", "failed"])).toBe(1);
    expect(await readRun(forge, failed)).toBeNull();
    expect(await runStatus(forge, succeeded)).toBe("SUCCEEDED");
    expect(await pruned(["--older-than", "2880m", "--status", "FAILED", "CANCELLED"])).toBe(0);
    expect(await pruned(["--older-than", "1w"])).toBe(0);
    expect(await pruned(["--older-than", "86400s"])).toBe(1);
    expect(await runCount(forge)).toBe(0);

    const nowhere = `http://127.0.0.1:${await closedPort()}/graphql`;
    const cases: Array<[string[], string]> = [
      [["prune"], "forge: which runs to prune: give --finished-before <instant> or --older-than <duration>"],
      [["prune", "--dry-run"], "forge: which runs to prune: give --finished-before <instant> or --older-than <duration>"],
      [
        ["prune", "--finished-before", "2026-01-01", "--older-than", "30d"],
        "forge: option '--older-than <duration>' cannot be used with option '--finished-before <instant>'",
      ],
      [
        ["prune", "--older-than", "30"],
        "forge: option '--older-than <duration>' argument '30' is invalid. must be a whole number and a unit",
      ],
      [["prune", "--older-than", "1.5d"], "forge: option '--older-than <duration>' argument '1.5d' is invalid."],
      [["prune", "--finished-before", "last week"], "forge: option '--finished-before <instant>' argument 'last week' is invalid."],
      [
        ["prune", "--older-than", "30d", "--status", "PENDING"],
        "forge: option '--status <status...>' argument 'PENDING' is invalid. must be one of SUCCEEDED, FAILED, CANCELLED.",
      ],
    ];
    const outs = await Promise.all(cases.map(([args]) => cli(nowhere, args)));
    for (const [i, [args, message]] of cases.entries()) {
      const out = outs[i] as CliRun;
      expect(out.code, args.join(" ")).toBe(2);
      expect(out.stdout, args.join(" ")).toBe("");
      expect(lines(out.stderr), args.join(" ")).toHaveLength(1);
      expect(out.stderr.startsWith(message), `${out.stderr} starts with ${message}`).toBe(true);
    }
  });
});

describe("forge tick and status", { timeout: CLI_TIMEOUT_MS }, () => {
  it("tick advances runs with the admin token, and prints the API's FORBIDDEN on one line without it", async () => {
    const { forge, url } = await serving();
    const a = await create(forge);
    const refused = await cli(url, ["tick"], null);
    expect(refused).toMatchObject({ code: 1, stdout: "" });
    expect(lines(refused.stderr)).toEqual([
      "forge: FORBIDDEN: this operation needs the admin token (Authorization: Bearer <FORGE_ADMIN_TOKEN>)",
    ]);
    const wrong = await cli(url, ["tick"], "not-the-admin-token");
    expect(wrong.stderr).toMatch(/^forge: FORBIDDEN: /);
    expect(await runStatus(forge, a)).toBe("PENDING");

    const ticked = await cli(url, ["tick"]);
    expect(ticked).toMatchObject({ code: 0, stderr: "" });
    expect(lines(ticked.stdout)).toEqual([
      "ticked:           1",
      "succeeded:        1",
      "failed:           0",
      "skipped (leased): 0",
      `runs:             ${a}`,
    ]);
    expect(await runStatus(forge, a)).toBe("SUCCEEDED");

    const b = await create(forge);
    const c = await create(forge);
    const json = await cli(url, ["tick", "--limit", "1", "--json"]);
    expect(JSON.parse(json.stdout)).toEqual({ ticked: 1, succeeded: 1, failed: 0, skippedLeased: 0, runIds: [b] });
    expect(await runStatus(forge, c)).toBe("PENDING");
    const badLimit = await cli(url, ["tick", "--limit", "0"]);
    expect(badLimit.code).toBe(2);
    expect(lines(badLimit.stderr)).toEqual(["forge: option '--limit <n>' argument '0' is invalid. must be a whole number from 1 to 1000."]);
  });

  it("status shows readiness, the worker and the queue, as a table or JSON", async () => {
    const { forge, url } = await serving();
    await create(forge);
    await create(forge);
    const shown = await cli(url, ["status"]);
    expect(shown).toMatchObject({ code: 0, stderr: "" });
    expect(lines(shown.stdout)).toEqual(
      expect.arrayContaining([`server:        ${url}`, "ready:         yes", "worker:        not running", "queue depth:   2"]),
    );
    const json = await cli(url, ["status", "--json"]);
    expect(JSON.parse(json.stdout)).toMatchObject({
      server: { url, ready: true },
      worker: { enabled: false, running: false, ticks: 0, queueDepth: 2 },
    });
    const refused = await cli(url, ["status"], null);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^forge: FORBIDDEN: /);
  });

  it("a server that needs FORGE_API_TOKEN answers reads given that token, and refuses them without one", async () => {
    const { forge, url } = await serving({ FORGE_API_TOKEN: "api-token-for-cli-tests" });
    const id = await create(forge);
    const read = await cli(url, ["runs", "list", "--json"], "api-token-for-cli-tests");
    expect((JSON.parse(read.stdout) as Array<{ id: string }>).map((r) => r.id)).toEqual([id]);
    const anonymous = await cli(url, ["runs", "list"], null);
    expect(anonymous.code).toBe(1);
    expect(lines(anonymous.stderr)).toEqual(["forge: FORBIDDEN: this server needs a token (Authorization: Bearer <FORGE_API_TOKEN>)"]);
    const tail = await cli(url, ["runs", "tail", id], null);
    expect(tail.code).toBe(1);
    expect(tail.stderr).toMatch(/^forge: FORBIDDEN: /);
  });
});

describe("forge, in general", { timeout: CLI_TIMEOUT_MS }, () => {
  it("a server that cannot be reached is one line naming the URL, exit 1, for every client command", async () => {
    const url = `http://127.0.0.1:${await closedPort()}/graphql`;
    const commands = [
      ["runs", "list"],
      ["runs", "show", "r_1"],
      ["runs", "tail", "r_1"],
      ["runs", "cancel", "r_1"],
      ["runs", "rerun", "r_1"],
      ["runs", "cancel-matching", "--lane", "x"],
      ["runs", "rerun-matching", "--status", "FAILED"],
      ["pause", "--lane", "x"],
      ["resume", "--lane", "x"],
      ["pauses", "list"],
      ["prune", "--older-than", "30d"],
      ["tick"],
      ["status"],
    ];
    const outs = await Promise.all(commands.map((args) => cli(url, args)));
    for (const [i, args] of commands.entries()) {
      const out = outs[i] as CliRun;
      expect(out.code, args.join(" ")).toBe(1);
      expect(lines(out.stderr), args.join(" ")).toEqual([`forge: cannot reach ${url}: connection refused`]);
    }
  });

  it("FORGE_URL and FORGE_TOKEN stand in for --url and --token, and the options win over them", async () => {
    const { forge, url } = await serving();
    await create(forge);
    const env = (extra: Record<string, string>) => startProcess(MAIN, ["tick", "--json"], extra);
    const fromEnv = env({ FORGE_URL: url, FORGE_TOKEN: ADMIN });
    expect(await fromEnv.exited).toBe(0);
    expect(JSON.parse(fromEnv.output())).toMatchObject({ ticked: 1 });
    const wrongEnv = startProcess(MAIN, ["--url", url, "--token", ADMIN, "tick", "--json"], {
      FORGE_URL: "http://127.0.0.1:1/graphql",
      FORGE_TOKEN: "wrong",
    });
    expect(await wrongEnv.exited).toBe(0);
    expect(JSON.parse(wrongEnv.output())).toMatchObject({ ticked: 0 });
  });

  it("--help lists the commands and exit codes; an unknown command or option is one line, exit 2", async () => {
    const url = "http://127.0.0.1:1/graphql";
    const help = await cli(url, ["--help"]);
    expect(help.code).toBe(0);
    for (const command of ["serve", "worker", "migrate", "runs", "tick", "status", "pause", "resume", "pauses", "prune"]) {
      expect(help.stdout).toMatch(new RegExp(`^  ${command} `, "m"));
    }
    for (const text of ["Exit codes:", "FORGE_URL", "FORGE_TOKEN", "runs cancel-matching", "pauses list", "prune)"])
      expect(help.stdout).toContain(text);
    const runsHelp = await cli(url, ["runs", "--help"]);
    for (const command of ["list", "show", "create", "tail", "cancel", "signal", "rerun", "cancel-matching", "rerun-matching"]) {
      expect(runsHelp.stdout).toMatch(new RegExp(`^  ${command} `, "m"));
    }

    const unknown = await cli(url, ["deploy"]);
    expect(unknown.code).toBe(2);
    expect(lines(unknown.stderr)).toEqual(["forge: unknown command 'deploy'"]);
    const option = await cli(url, ["runs", "list", "--colour"]);
    expect(option.code).toBe(2);
    expect(lines(option.stderr)).toEqual(["forge: unknown option '--colour'"]);
    const badUrl = await cli("ftp://example.com", ["runs", "list"]);
    expect(badUrl.code).toBe(2);
    expect(lines(badUrl.stderr)).toEqual([
      "forge: option '--url <url>' argument 'ftp://example.com' is invalid. must be an http:// or https:// URL.",
    ]);
  });
});

describe("forge's table formatting", () => {
  it("shows durations in their two largest units, UTC times to the second, and long values cut", () => {
    expect([850, 4200, 59_949, 185_000, 7_800_000, 273_600_000].map(duration)).toEqual([
      "850ms",
      "4.2s",
      "59.9s",
      "3m 05s",
      "2h 10m",
      "3d 4h",
    ]);
    expect(span("2026-11-23T22:33:46.123Z", "2026-11-23T22:33:50.323Z")).toBe("4.2s");
    expect(span("2026-11-23T22:33:46.123Z", null)).toBe("-");
    expect(time("2026-11-23T22:33:46.123Z")).toBe("2026-11-23 22:33:46");
    expect(brief({ a: "x".repeat(100) }, 20)).toBe('{"a":"xxxxxxxxxxx...');
    expect(brief(null)).toBe("-");
    expect(table(["A", "LONGER"], [["value", null]])).toBe("A      LONGER\nvalue  -");
  });
});
