import { z } from "zod";
import { idParams, timestamp } from "../api-schemas.js";
import { attachmentDisposition, safeContentType } from "../content-disposition.js";
import { defineRoute, type RouteDefinition } from "../route-definition.js";
import type { RouteDeps } from "../route-deps.js";

/** A stored attachment's metadata. */
export const attachmentSchema = z
  .object({
    id: z.string(),
    messageId: z.string(),
    position: z.number().int(),
    filename: z.string().nullable(),
    contentType: z.string(),
    size: z.number().int(),
    contentId: z.string().nullable(),
    disposition: z.enum(["inline", "attachment"]),
    sha256: z.string(),
    createdAt: timestamp,
  })
  .meta({ id: "Attachment" });

/** Attachments: metadata and download. */
export function attachmentRoutes(deps: RouteDeps): RouteDefinition[] {
  const { inbound } = deps;
  return [
    defineRoute({
      method: "GET", path: "/attachments/{id}", operationId: "getAttachment", tag: "attachments", summary: "An attachment's metadata", access: "viewer",
      params: idParams,
      responses: { 200: { description: "The attachment", schema: attachmentSchema } },
      handler: async ({ params }) => inbound.store.messages.getAttachment(params.id),
    }),
    defineRoute({
      method: "GET", path: "/attachments/{id}/content", operationId: "getAttachmentContent", tag: "attachments", summary: "Download an attachment", access: "viewer",
      description: "With the stored content type and `Content-Disposition: attachment` (RFC 6266 `filename*`), never rendered in the page's origin.",
      params: idParams,
      responses: { 200: { description: "The decoded bytes", contentType: "application/octet-stream" } },
      handler: async ({ params, reply }) => {
        const { attachment, content } = await inbound.attachmentContent(params.id);
        return reply
          .type(safeContentType(attachment.contentType))
          .header("content-length", String(attachment.size))
          .header("content-disposition", attachmentDisposition(attachment.filename ?? `attachment-${attachment.position + 1}`))
          // Even if a browser ignored the disposition, an HTML or SVG attachment could run nothing.
          .header("content-security-policy", "default-src 'none'; sandbox")
          .send(content);
      },
    }),
  ];
}
