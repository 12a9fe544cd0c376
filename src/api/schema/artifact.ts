import type { ArtifactRecord } from "../../store/artifacts.ts";
import { builder } from "../builder.ts";

export const ArtifactRef = builder.objectRef<ArtifactRecord>("Artifact").implement({
  description: "A file a step of the run wrote (the artifact step type, or a handler's writeArtifact).",
  fields: (t) => ({
    id: t.id({
      description: "Global artifact id: a 64-bit integer carried as a string, increasing in write order.",
      resolve: (a) => String(a.id),
    }),
    runId: t.exposeID("runId", { description: "The run the artifact belongs to." }),
    stepId: t.exposeString("stepId", {
      nullable: true,
      description: "The stepId of the step whose attempt wrote it; null when no step did.",
    }),
    name: t.exposeString("name", { description: "The name the step gave it: not blank, at most 256 characters." }),
    contentType: t.exposeString("contentType", {
      description: "Its media type, e.g. text/plain; charset=utf-8 (the artifact step's default for text) or application/json.",
    }),
    size: t.exposeInt("size", { description: "Bytes of the UTF-8 content." }),
    sha256: t.exposeString("sha256", { description: "Hex SHA-256 digest of the content's UTF-8 bytes." }),
    createdAt: t.field({ type: "DateTime", description: "When the artifact was stored.", resolve: (a) => a.createdAt }),
    content: t.string({
      nullable: true,
      description: "The content as UTF-8 text (read only when asked for); null when the artifact was deleted after it was listed.",
      resolve: (a, _args, ctx) => {
        // Charged by the stored size before the content is read.
        ctx.answer.take(a.size, "Artifact.content");
        return ctx.loadArtifactContent(a.id);
      },
    }),
  }),
});
