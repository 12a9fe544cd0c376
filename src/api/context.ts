import type { Forge } from "../engine/forge.ts";
import type { Access } from "./auth.ts";

/** Per-operation context, for HTTP requests and graphql-ws subscriptions alike. */
export interface Context {
  forge: Forge;
  access: Access;
}
