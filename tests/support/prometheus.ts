/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4), for tests that
 * scrape /metrics. Written here because the registry's parser for it
 * (parse-prometheus-text-format 1.1) drops the labels, sum and count of labelled histograms,
 * which are most of Forge's. Anything it does not understand throws, so a malformed
 * exposition fails the test that reads it.
 */
export interface Sample {
  /** The sample's own name (a histogram's `_bucket`, `_sum` and `_count` included). */
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: "counter" | "gauge" | "histogram" | "summary" | "untyped";
  help: string;
  samples: Sample[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)/y;

export function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const familyOf = (name: string) => {
    const family = families.get(name);
    if (!family) throw new Error(`sample or HELP for "${name}" before its TYPE line`);
    return family;
  };
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string];
      if (kind === "TYPE") families.set(name, { name, type: rest as Family["type"], help: families.get(name)?.help ?? "", samples: [] });
      else families.set(name, { ...(families.get(name) ?? { name, type: "untyped", samples: [] }), help: rest });
      continue;
    }
    if (line.startsWith("#")) continue;
    const match = SAMPLE.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const [, name, , labelText = "", rawValue] = match as unknown as [string, string, string, string | undefined, string];
    const labels: Record<string, string> = {};
    LABEL.lastIndex = 0;
    while (LABEL.lastIndex < labelText.length) {
      const label = LABEL.exec(labelText);
      if (!label) throw new Error(`bad labels in: ${line}`);
      labels[label[1] as string] = (label[2] as string).replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    }
    // Prometheus reads values as Go's ParseFloat does: NaN and Inf in any case (prom-client writes "Nan").
    const lower = rawValue.toLowerCase();
    const value =
      lower === "+inf" || lower === "inf" ? Number.POSITIVE_INFINITY : lower === "-inf" ? Number.NEGATIVE_INFINITY : Number(rawValue);
    if (Number.isNaN(value) && lower !== "nan") throw new Error(`bad value in: ${line}`);
    const base = families.has(name) ? name : name.replace(/_(bucket|sum|count)$/, "");
    familyOf(base).samples.push({ name, labels, value });
  }
  return families;
}
