import type { TickResult } from "../../engine/commit.ts";
import { adminAction } from "../admin.ts";
import { intInRange } from "../args.ts";
import { builder } from "../builder.ts";

const TickResultRef = builder.objectRef<TickResult>("TickResult").implement({
  description: "What one tickOnce did: how many runs it advanced and how they ended.",
  fields: (t) => ({
    ticked: t.exposeInt("ticked", { description: "Runs this tick advanced." }),
    succeeded: t.exposeInt("succeeded", { description: "Runs that reached SUCCEEDED in this tick." }),
    failed: t.exposeInt("failed", { description: "Runs that reached FAILED in this tick." }),
    skippedLeased: t.exposeInt("skippedLeased", { description: "Runs passed over because another ticker holds their lease." }),
    runIds: t.exposeIDList("runIds", { description: "The runs advanced, in the order they were ticked." }),
  }),
});

builder.mutationField("tickOnce", (t) =>
  t.field({
    type: TickResultRef,
    description:
      "Admin. Advances at most `limit` runs that have work to do, highest priority first, then oldest, each as far as it can go without waiting.",
    args: { limit: t.arg.int({ defaultValue: 10, description: "Most runs to advance, 1..1000 (default 10)." }) },
    resolve: (_root, args, ctx) =>
      adminAction(
        ctx,
        "tickOnce",
        null,
        () => ctx.forge.tickOnce(intInRange("limit", args.limit, 1, 1000, 10)),
        (r) => ({ limit: args.limit, ticked: r.ticked }),
      ),
  }),
);
