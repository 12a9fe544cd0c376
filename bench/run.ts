import { benchDashboard } from "./dashboard.ts";
import { benchDeliveryLoop, benchEventLoop } from "./event-loop.ts";
import { benchFanout } from "./fanout.ts";
import { benchHttp } from "./http.ts";
import { benchLatency } from "./latency.ts";
import { benchLifecycle } from "./lifecycle.ts";
import { benchObservability } from "./observability.ts";
import { benchPoison, sqliteUrl } from "./poison.ts";
import { benchPostgresLatency, benchPostgresThroughput, dropSchema, freshSchemaUrl } from "./postgres.ts";
import { benchScale } from "./scale.ts";
import { benchSteps } from "./steps.ts";
import { benchThroughput } from "./throughput.ts";

/**
 * `npm run bench [-- --quick] [-- --only throughput|poison|latency|fanout|http|eventloop|steps|observability|scale|dashboard|lifecycle|pg] [-- --soak]`: Forge's
 * benchmarks, each printed as a table next to a bound measured in the same run. Figures
 * vary with the machine; the ratios are what to compare between runs. `pg` needs a
 * PostgreSQL server (BENCH_DATABASE_URL, default the local one); `--pg` runs only it.
 * `lifecycle` runs on SQLite, and on PostgreSQL as part of `pg` (or with `--with-pg`);
 * `--part prune,worker,cancel,waiting,pauses` picks some of its parts.
 */
const args = process.argv.slice(2);
const quick = args.includes("--quick");
const only = args.includes("--pg") ? "pg" : args[args.indexOf("--only") + 1];
const wants = (name: string) => (!args.includes("--only") && !args.includes("--pg")) || only === name;

console.log(`Forge benchmarks, node ${process.version}, ${new Date().toISOString()}${quick ? " (quick)" : ""}`);
if (wants("throughput")) {
  const runs = quick ? 500 : 5000;
  await benchThroughput({ runs, stepsPerRun: 1, tickLimit: 100, synchronous: "FULL", createBatch: 1 });
  await benchThroughput({ runs, stepsPerRun: 1, tickLimit: 100, synchronous: "FULL", createBatch: 100 });
  await benchThroughput({ runs, stepsPerRun: 1, tickLimit: 100, synchronous: "NORMAL", createBatch: 100 });
  await benchThroughput({ runs: runs / 5, stepsPerRun: 10, tickLimit: 100, synchronous: "FULL", createBatch: 100 });
}
if (wants("poison")) await benchPoison({ label: "SQLite, FULL", url: sqliteUrl });
if (wants("latency")) await benchLatency({ subscribers: 100, events: quick ? 50 : 300, gapMs: 10 });
if (wants("fanout")) {
  // --soak [minutes]: the steady rate for that long (ten minutes by default), with the
  // server's memory sampled (after a full collection under node --expose-gc).
  const soakArg = Number(args[args.indexOf("--soak") + 1]);
  const soakMinutes = args.includes("--soak") ? (Number.isFinite(soakArg) && soakArg > 0 ? soakArg : 10) : undefined;
  await benchFanout({ subscribers: 1000, burst: quick ? 100 : 500, rate: 20, seconds: quick ? 5 : 15, soakMinutes });
}
if (wants("http")) await benchHttp({ clients: 16, requests: quick ? 500 : 3000 });
if (wants("eventloop")) {
  await benchEventLoop({ label: "SQLite" });
  await benchDeliveryLoop({ label: "SQLite" });
}
if (wants("steps")) await benchSteps({ runs: quick ? 400 : 2000 });
if (wants("observability")) await benchObservability({ runs: quick ? 2000 : 10_000, rounds: quick ? 3 : 5 });
if (wants("scale")) await benchScale({ small: 10_000, large: quick ? 100_000 : 1_000_000 });
if (wants("dashboard")) {
  await benchDashboard({ loads: quick ? 5 : 20, repetitions: quick ? 10 : 50, graphSteps: 1000, graphLoads: quick ? 2 : 5 });
}
const parts = args.includes("--part") ? (args[args.indexOf("--part") + 1] ?? "").split(",") : undefined;
if (wants("lifecycle")) {
  await benchLifecycle({ dialect: "sqlite", quick, parts });
  if (args.includes("--with-pg") && !wants("pg")) await benchLifecycle({ dialect: "postgres", quick, parts });
}
if (wants("pg")) {
  await benchPostgresThroughput({ runs: quick ? 1000 : 6000 });
  await benchPostgresLatency({ subscribers: 100, events: quick ? 50 : 300, gapMs: 10 });
  const schemas: string[] = [];
  const schema = (tag: string) => {
    const url = freshSchemaUrl(tag);
    schemas.push(url);
    return url;
  };
  await benchPoison({ label: "PostgreSQL", url: () => schema("poison") });
  await benchEventLoop({ label: "PostgreSQL", databaseUrl: schema("loop") });
  for (const url of schemas) await dropSchema(url);
  await benchLifecycle({ dialect: "postgres", quick, parts });
}
