import type { StepHandler } from "./registry.ts";

const NAME_MAX = 256;
const CONTENT_TYPE = /^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+(\s*;.*)?$/;

/**
 * `{ "name", "contentType", "content" }`: stores `content` as an artifact of the run and
 * succeeds with its name, content type, size and sha256. Content that is not a string is
 * stored as its JSON text (content type application/json unless given).
 */
export const artifact: StepHandler = {
  type: "artifact",
  checkParams(params) {
    const name = params.name;
    if (typeof name !== "string" || name.trim() === "" || name.length > NAME_MAX || hasControlCharacter(name)) {
      return `"name" must be a non-blank string of at most ${NAME_MAX} characters, without control characters`;
    }
    const type = params.contentType;
    if (type !== undefined && (typeof type !== "string" || type.length > 256 || !CONTENT_TYPE.test(type))) {
      return `"contentType" must be a media type such as text/plain or application/json`;
    }
    if (params.content === undefined) return `"content" is required (a string, or any JSON value)`;
    return null;
  },
  run(ctx) {
    const { name, contentType, content } = ctx.params as { name: string; contentType?: string; content: unknown };
    const text = typeof content === "string" ? content : JSON.stringify(content);
    return ctx.writeArtifact({
      name,
      contentType: contentType ?? (typeof content === "string" ? "text/plain; charset=utf-8" : "application/json"),
      content: text,
    });
  },
};

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) < 0x20) return true;
  return false;
}
