import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { systemClock } from "../src/clock.ts";
import { Forge, type ForgeOptions } from "../src/engine/forge.ts";
import type { Db } from "../src/store/db.ts";

/** A Forge engine on `db` without a worker (benchmarks drive the ticks), migrating it first; `options` override the defaults. */
export function startEngine(db: Db, options: Partial<ForgeOptions> = {}): Promise<Forge> {
  return Forge.start({
    db,
    clock: systemClock,
    log: pino({ level: "silent" }),
    leaseMs: 60_000,
    tickLimit: 100,
    tickIntervalMs: 1000,
    workerEnabled: false,
    ...options,
  });
}

export function freshDbFile(): string {
  return join(mkdtempSync(join(tmpdir(), "forge-bench-")), "forge.db");
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] as number;
}

/** Prints a Markdown table (it reads fine in a terminal and pastes into the README). */
export function printTable(title: string, header: string[], rows: Array<Array<string | number>>): void {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i] as number)).join(" | ")} |`;
  console.log(`\n### ${title}\n`);
  console.log(line(header));
  console.log(`| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`);
  for (const r of rows) console.log(line(r.map(String)));
}

export const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
