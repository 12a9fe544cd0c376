import Table from "cli-table3";

/**
 * How the command line shows data to people: borderless tables in the style of `gh` and
 * `kubectl`, UTC times to the second, short durations. Scripts use `--json` instead.
 */

const NONE = "-";

/** A table with a header row, columns two spaces apart, no borders and no colours. */
export function table(head: string[], rows: Array<Array<string | number | null | undefined>>): string {
  const t = new Table({
    head,
    chars: {
      top: "",
      "top-mid": "",
      "top-left": "",
      "top-right": "",
      bottom: "",
      "bottom-mid": "",
      "bottom-left": "",
      "bottom-right": "",
      left: "",
      "left-mid": "",
      mid: "",
      "mid-mid": "",
      right: "",
      "right-mid": "",
      middle: "  ",
    },
    style: { head: [], border: [], "padding-left": 0, "padding-right": 0 },
  });
  for (const row of rows) t.push(row.map((cell) => (cell === null || cell === undefined || cell === "" ? NONE : String(cell))));
  return trimLines(t.toString());
}

/** Two columns, key and value, without a header: one record shown to a person. */
export function record(entries: Array<[string, string | number | boolean | null | undefined]>): string {
  const width = Math.max(...entries.map(([key]) => key.length));
  return entries.map(([key, value]) => `${`${key}:`.padEnd(width + 2)}${value === null || value === undefined ? NONE : value}`).join("\n");
}

function trimLines(text: string): string {
  return text
    .split("\n")
    .map((line) => line.trimEnd())
    .join("\n");
}

/** `2026-11-23T22:33:46.123Z` as `2026-11-23 22:33:46`, the API's UTC to the second. */
export function time(iso: string | null | undefined): string {
  if (!iso) return NONE;
  return iso
    .replace("T", " ")
    .replace(/\.\d+Z$/, "")
    .replace(/Z$/, "");
}

/** A duration in the largest two units that matter: 850ms, 4.2s, 3m 05s, 2h 10m, 3d 4h. */
export function duration(ms: number): string {
  if (ms < 0) return NONE;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}

/** From start to finish; a run or step not finished yet has no duration. */
export function span(startedAt: string | null | undefined, finishedAt: string | null | undefined): string {
  if (!startedAt || !finishedAt) return NONE;
  return duration(Date.parse(finishedAt) - Date.parse(startedAt));
}

/** JSON on one line, cut to `max` characters: a step's output or payload in a table cell. */
export function brief(value: unknown, max = 60): string {
  if (value === null || value === undefined) return NONE;
  const text = typeof value === "string" ? value : JSON.stringify(value);
  const line = text.replace(/\s*\n\s*/g, " ");
  return line.length > max ? `${line.slice(0, max - 3)}...` : line;
}

/** What `--json` prints: the data, indented, and a final newline. */
export function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}
