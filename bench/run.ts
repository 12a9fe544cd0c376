import { benchHttp } from "./http.ts";
import { benchLatency } from "./latency.ts";
import { benchScale } from "./scale.ts";
import { benchThroughput } from "./throughput.ts";

/**
 * `npm run bench [-- --quick] [-- --only throughput|latency|http|scale]`: Forge's benchmarks,
 * each printed as a table next to a bound measured in the same run. Figures vary with the
 * machine; the ratios are what to compare between runs.
 */
const args = process.argv.slice(2);
const quick = args.includes("--quick");
const only = args[args.indexOf("--only") + 1];
const wants = (name: string) => !args.includes("--only") || only === name;

console.log(`Forge benchmarks, node ${process.version}, ${new Date().toISOString()}${quick ? " (quick)" : ""}`);
if (wants("throughput")) {
  const runs = quick ? 500 : 5000;
  await benchThroughput({ runs, stepsPerRun: 1, tickLimit: 100, synchronous: "FULL", createBatch: 1 });
  await benchThroughput({ runs, stepsPerRun: 1, tickLimit: 100, synchronous: "FULL", createBatch: 100 });
  await benchThroughput({ runs, stepsPerRun: 1, tickLimit: 100, synchronous: "NORMAL", createBatch: 100 });
  await benchThroughput({ runs: runs / 5, stepsPerRun: 10, tickLimit: 100, synchronous: "FULL", createBatch: 100 });
}
if (wants("latency")) await benchLatency({ subscribers: 100, events: quick ? 50 : 300, gapMs: 10 });
if (wants("http")) await benchHttp({ clients: 16, requests: quick ? 500 : 3000 });
if (wants("scale")) await benchScale({ small: 10_000, large: quick ? 100_000 : 1_000_000 });
