import type { CodegenConfig } from "@graphql-codegen/cli";
import { printSchemaWithDirectives } from "@graphql-tools/utils";
import { lexicographicSortSchema } from "graphql";
import { schema } from "./src/api/schema/index.ts";

/**
 * `npm run generate`: prints the committed schema.graphql from the Pothos schema, and the
 * typed documents (tests/gql/) that tests and benchmarks write their operations with.
 * CI regenerates both and fails when the committed files differ.
 */
const config: CodegenConfig = {
  // Printed with graphql-tools' printer, which keeps directives.
  schema: printSchemaWithDirectives(lexicographicSortSchema(schema)),
  documents: ["tests/**/*.ts", "bench/**/*.ts", "!tests/gql/**"],
  ignoreNoDocuments: true,
  // ESM imports with explicit extensions, as NodeNext resolution requires.
  emitLegacyCommonJSImports: false,
  generates: {
    "schema.graphql": { plugins: ["schema-ast"], config: { includeDirectives: true, sort: true } },
    "tests/gql/": {
      preset: "client",
      presetConfig: { fragmentMasking: false },
      config: {
        scalars: { DateTime: "string", JSON: "unknown", ID: "string" },
        useTypeImports: true,
        enumsAsTypes: true,
        documentMode: "string",
      },
    },
  },
};

export default config;
