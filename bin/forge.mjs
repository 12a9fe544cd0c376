#!/usr/bin/env node
// The `forge` command from a checkout (`npx forge ...`): Forge is TypeScript run by tsx, so its
// ESM loader is registered before the entry point is imported.
import { register } from "tsx/esm/api";

register();
await import("../src/main.ts");
