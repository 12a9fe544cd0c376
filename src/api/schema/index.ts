import { builder } from "../builder.ts";
import "./artifact.ts";
import "./event.ts";
import "./run.ts";
import "./lifecycle.ts";
import "./step.ts";
import "./tick.ts";
import "./worker.ts";

export const schema = builder.toSchema({ sortSchema: true });
