import { z } from "zod";
import { ApiError } from "../api-error.js";
import { addressSchema, idParams, pageOf, pageQuery, queryBoolean, timestamp } from "../api-schemas.js";
import { attachmentDisposition } from "../content-disposition.js";
import { messageHtmlDocument, messageHtmlPolicy } from "../message-html-view.js";
import { defineRoute, type RouteDefinition } from "../route-definition.js";
import type { RouteDeps } from "../route-deps.js";
import { attachmentSchema } from "./attachment-routes.js";

const messageSummaryFields = {
  id: z.string(),
  accountId: z.string(),
  folder: z.string().nullable(),
  uidValidity: z.string().nullable(),
  uid: z.number().int().nullable(),
  uidl: z.string().nullable(),
  size: z.number().int(),
  internalDate: timestamp.nullable(),
  flags: z.array(z.string()),
  messageIdHeader: z.string().nullable(),
  sentDate: timestamp.nullable(),
  subject: z.string().nullable(),
  from: z.array(addressSchema).nullable(),
  to: z.array(addressSchema).nullable(),
  status: z.enum(["pending", "parsed", "failed"]),
  parseError: z.string().nullable(),
  storedAt: timestamp,
  processedAt: timestamp.nullable(),
};

/** A stored message as listed. */
export const messageSummarySchema = z.object(messageSummaryFields).meta({ id: "MessageSummary" });

/** One message with its headers, text and attachments; the HTML is served by GET /messages/{id}/html only. */
export const messageSchema = z
  .object({
    ...messageSummaryFields,
    cc: z.array(addressSchema).nullable(),
    bcc: z.array(addressSchema).nullable(),
    replyTo: z.array(addressSchema).nullable(),
    headers: z.array(z.object({ key: z.string(), line: z.string() })).nullable(),
    textBody: z.string().nullable(),
    hasHtml: z.boolean().describe("Whether GET /messages/{id}/html has a sanitized HTML body to show"),
    attachments: z.array(attachmentSchema),
  })
  .meta({ id: "Message" });

// One message for the union: zod reports a failed union as "Invalid input", hiding its members' words.
const isoDate = z.union([z.iso.datetime({ offset: true }), z.iso.date()], { error: "must be an ISO-8601 date or date-time, e.g. 2026-01-31 or 2026-01-31T00:00:00Z" });

const listQuery = z.object({
  account: z.string().max(200).optional().describe("Account name or id"),
  folder: z.string().max(1000).optional(),
  since: isoDate.optional().describe("Message date at or after (ISO-8601)"),
  until: isoDate.optional().describe("Message date before (ISO-8601)"),
  from: z.string().max(200).optional().describe("Text in a From name or address (case-insensitive)"),
  subject: z.string().max(200).optional().describe("Text in the subject (case-insensitive)"),
  hasAttachments: queryBoolean.optional(),
  ...pageQuery,
});

/** Stored messages: list with filters, one message, raw, text and sanitized HTML. */
export function messageRoutes(deps: RouteDeps): RouteDefinition[] {
  const { inbound } = deps;
  return [
    defineRoute({
      method: "GET", path: "/messages", operationId: "listMessages", tag: "messages", summary: "List stored messages, newest first", access: "viewer",
      query: listQuery,
      responses: { 200: { description: "A page of messages", schema: pageOf(messageSummarySchema, "MessagePage") } },
      handler: async ({ query }) => inbound.listMessages(query),
    }),
    defineRoute({
      method: "GET", path: "/messages/{id}", operationId: "getMessage", tag: "messages", summary: "One message with headers, text and attachments", access: "viewer",
      params: idParams,
      responses: { 200: { description: "The message", schema: messageSchema } },
      handler: async ({ params }) => {
        const message = await inbound.getMessage(params.id);
        return { ...message, hasHtml: message.sanitizedHtml !== null && message.sanitizedHtml !== "" };
      },
    }),
    defineRoute({
      method: "GET", path: "/messages/{id}/raw", operationId: "getMessageRaw", tag: "messages", summary: "The raw message as it came off the server (.eml)", access: "viewer",
      params: idParams,
      responses: { 200: { description: "The raw bytes", contentType: "message/rfc822" } },
      handler: async ({ params, reply }) => {
        const message = await inbound.store.messages.get(params.id);
        const stream = await inbound.rawMessage(params.id);
        return reply
          .type("message/rfc822")
          .header("content-length", String(message.size))
          .header("content-disposition", attachmentDisposition(`message-${message.id}.eml`))
          .send(stream);
      },
    }),
    defineRoute({
      method: "GET", path: "/messages/{id}/text", operationId: "getMessageText", tag: "messages", summary: "The plain-text body", access: "viewer",
      params: idParams,
      responses: { 200: { description: "The text body", contentType: "text/plain" } },
      handler: async ({ params, reply }) => {
        const message = await inbound.store.messages.get(params.id);
        if (message.textBody === null) throw new ApiError("NOT_FOUND", { message: `The message "${params.id}" has no text body.` });
        return reply.type("text/plain; charset=utf-8").send(message.textBody);
      },
    }),
    defineRoute({
      method: "GET", path: "/messages/{id}/html", operationId: "getMessageHtml", tag: "messages", summary: "The sanitized HTML body, for a sandboxed iframe", access: "viewer",
      description:
        "Served with its own Content-Security-Policy (`default-src 'none'; img-src 'self' data: cid:; style-src 'unsafe-inline'`, plus a CSP sandbox). " +
        "The message's own images are inlined as data: URLs; remote images load only with `remoteImages=true`.",
      params: idParams,
      query: z.object({ remoteImages: queryBoolean.optional().describe("Allow https: images (\"show images\")") }),
      responses: { 200: { description: "An HTML document", contentType: "text/html" } },
      handler: async ({ params, query, reply }) => {
        const message = await inbound.store.messages.get(params.id);
        if (message.sanitizedHtml === null || message.sanitizedHtml === "") throw new ApiError("NOT_FOUND", { message: `The message "${params.id}" has no sanitized HTML body.` });
        const attachments = await inbound.store.messages.attachments(message.id);
        const html = await messageHtmlDocument(message.sanitizedHtml, attachments, async (a) => (await inbound.attachmentContent(a.id)).content);
        return reply
          .type("text/html; charset=utf-8")
          .header("content-security-policy", messageHtmlPolicy(query.remoteImages ?? false))
          .header("cache-control", "private, no-store")
          .send(html);
      },
    }),
    defineRoute({
      method: "GET", path: "/messages/{id}/attachments", operationId: "listMessageAttachments", tag: "attachments", summary: "The message's attachments", access: "viewer",
      params: idParams,
      responses: { 200: { description: "Attachment metadata, in order", schema: z.object({ items: z.array(attachmentSchema) }) } },
      handler: async ({ params }) => ({ items: (await inbound.getMessage(params.id)).attachments }),
    }),
  ];
}
