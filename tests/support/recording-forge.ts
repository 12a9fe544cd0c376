// Forge's command line with the `record` step type added: what the multi-process tests
// start as child processes. FORGE_TEST_RECORD_FILE names the file executions go to.
import { runCli } from "../../src/cli.ts";
import { recordingRegistry } from "./recording-steps.ts";

const file = process.env.FORGE_TEST_RECORD_FILE;
if (!file) {
  console.error("FORGE_TEST_RECORD_FILE must name the file that records step executions");
  process.exit(2);
}
runCli(process.argv.slice(2), { registry: recordingRegistry(file) }).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
