import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fmt, printTable } from "./support.ts";

/**
 * `npm run bench:compare -- <commit> [--rounds 7]`: this checkout's CPU cost per noop run
 * and per HTTP createRun against another commit's, measured in the same run. The commit is
 * checked out in a temporary git worktree (sharing this checkout's node_modules), and the
 * two trees' samples (bench/cpu-sample.ts, one fresh process each) alternate, so that a
 * change in the machine's speed during the run falls on both sides alike.
 *
 * On a shared machine another tenant's work only ever adds CPU time to a sample, so the
 * lowest of the rounds is the steadiest figure; the median is printed beside it.
 */
const args = process.argv.slice(2);
const commit = args.find((arg, i) => !arg.startsWith("--") && args[i - 1] !== "--rounds");
// Without --rounds, indexOf is -1 and the element after it would be the commit itself.
const roundsAt = args.indexOf("--rounds");
const rounds = roundsAt === -1 ? 7 : Number(args[roundsAt + 1]);
if (!commit || !Number.isInteger(rounds) || rounds < 1) {
  console.error("usage: npm run bench:compare -- <commit> [--rounds N]");
  process.exit(2);
}

const here = join(import.meta.dirname, "..");
const git = (...gitArgs: string[]) => execFileSync("git", gitArgs, { cwd: here, encoding: "utf8" }).trim();
const resolved = git("rev-parse", "--verify", `${commit}^{commit}`);
// This checkout as it is: its commit, marked when it holds changes not committed yet.
const head = `${git("rev-parse", "--short", "HEAD")}${git("status", "--porcelain", "--untracked-files=no") ? "+changes" : ""}`;
const other = mkdtempSync(join(tmpdir(), "forge-compare-"));

type Sample = Record<"createUs" | "tickUs" | "requestUs", number>;
const sample = (root: string): Sample => {
  const out = execFileSync(process.execPath, ["--import", "tsx", join(here, "bench/cpu-sample.ts")], {
    cwd: here,
    env: { ...process.env, FORGE_ROOT: root },
    encoding: "utf8",
  });
  return JSON.parse(out.trim().split("\n").at(-1) as string) as Sample;
};

try {
  git("worktree", "add", "--detach", other, resolved);
  symlinkSync(join(here, "node_modules"), join(other, "node_modules"));
  // The generated Prisma clients live in the tree (src/store/generated-*), from its own data model.
  execFileSync(process.execPath, ["scripts/prisma-generate.mjs"], { cwd: other, stdio: "ignore" });
  const mine: Sample[] = [];
  const theirs: Sample[] = [];
  for (let i = 0; i < rounds; i++) {
    // Alternate which side goes first, so neither always runs on a warmer machine.
    if (i % 2 === 0) {
      mine.push(sample(here));
      theirs.push(sample(other));
    } else {
      theirs.push(sample(other));
      mine.push(sample(here));
    }
    process.stderr.write(`round ${i + 1} of ${rounds}\n`);
  }
  const min = (xs: number[]) => Math.min(...xs);
  const median = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    const at = (i: number) => sorted[i] as number;
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? at(mid) : (at(mid - 1) + at(mid)) / 2;
  };
  const rows = (
    [
      ["createRuns of 100, per run", "createUs"],
      ["tick of 100, per run", "tickUs"],
      ["HTTP createRun, per request", "requestUs"],
    ] as const
  ).map(([label, key]) => {
    const a = mine.map((s) => s[key]);
    const b = theirs.map((s) => s[key]);
    return [label, fmt(min(a)), fmt(median(a)), fmt(min(b)), fmt(median(b)), fmt(min(a) / min(b), 2), fmt(median(a) / median(b), 2)];
  });
  printTable(
    `CPU µs per noop run (SQLite in memory-backed files), ${head} against ${resolved.slice(0, 7)}, ${rounds} alternating rounds`,
    [
      "work",
      `${head} min`,
      `${head} median`,
      `${resolved.slice(0, 7)} min`,
      `${resolved.slice(0, 7)} median`,
      "min / min",
      "median / median",
    ],
    rows,
  );
} finally {
  try {
    git("worktree", "remove", "--force", other);
  } catch {
    rmSync(other, { recursive: true, force: true });
    git("worktree", "prune");
  }
}
