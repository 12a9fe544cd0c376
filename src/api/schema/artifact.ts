import type { ArtifactRecord } from "../../store/artifacts.ts";
import { builder } from "../builder.ts";

export const ArtifactRef = builder.objectRef<ArtifactRecord>("Artifact").implement({
  description: "A file a step of the run wrote (the artifact step type, or a handler's writeArtifact).",
  fields: (t) => ({
    id: t.id({ resolve: (a) => String(a.id) }),
    runId: t.exposeID("runId"),
    stepId: t.exposeString("stepId", { nullable: true, description: "The step that wrote it." }),
    name: t.exposeString("name"),
    contentType: t.exposeString("contentType"),
    size: t.exposeInt("size", { description: "Bytes of the UTF-8 content." }),
    sha256: t.exposeString("sha256", { description: "Hex SHA-256 digest of the content's UTF-8 bytes." }),
    createdAt: t.field({ type: "DateTime", resolve: (a) => a.createdAt }),
    content: t.string({
      nullable: true,
      description: "The content as UTF-8 text (read only when asked for).",
      resolve: (a, _args, ctx) => {
        // Charged by the stored size before the content is read.
        ctx.answer.take(a.size, "Artifact.content");
        return ctx.loadArtifactContent(a.id);
      },
    }),
  }),
});
