import type { Address, AttachmentRecord, HeaderLine, MessageRecord } from "../store/message-repository.js";
import type { DeliveryEvent } from "./delivery-event.js";

/** One attachment in a webhook body: metadata and where to download it. */
export interface WebhookAttachment {
  id: string;
  filename: string | null;
  contentType: string;
  size: number;
  contentId: string | null;
  disposition: "inline" | "attachment";
  /** `${publicUrl}/api/v1/attachments/{id}/content`; `null` when no public URL is configured. */
  url: string | null;
}

/** The `message` of a `message.received` webhook body. */
export interface WebhookMessage {
  id: string;
  /** The Message-ID header. */
  messageId: string | null;
  subject: string | null;
  from: Address[];
  to: Address[];
  cc: Address[];
  replyTo: Address[];
  /** The Date header (ISO-8601 UTC). */
  date: string | null;
  /** When Inbound stored it. */
  receivedAt: string;
  size: number;
  text: string | null;
  /** The sanitized HTML. */
  html: string | null;
  /** True when `text` or `html` was cut at the size limit. */
  truncated: boolean;
  headers: Array<{ name: string; value: string }>;
  /** `"parsed"`, or `"failed"` with `parseError` (the raw message is still stored). */
  status: string;
  parseError: string | null;
  attachments: WebhookAttachment[];
}

/** A webhook body. `message` is present for `message.received`, `data` (the event's payload) for other types. */
export interface WebhookBody {
  /** The event id: the same on every retry; deduplicate on it. */
  id: string;
  type: string;
  createdAt: string;
  account: { id: string; name: string | null } | null;
  message?: WebhookMessage;
  data?: Record<string, unknown>;
}

/** Options for {@link buildWebhookBody}. */
export interface WebhookBodyOptions {
  /** Base of attachment download links, e.g. `https://inbound.example.com`. */
  publicUrl?: string;
  /** Characters kept of `text` and of `html` each. Default 256 KiB. */
  bodyLimit?: number;
}

/** Default cut-off of `text` and `html` in webhook bodies. */
export const DEFAULT_BODY_LIMIT = 256 * 1024;

function headerPair(header: HeaderLine): { name: string; value: string } {
  const colon = header.line.indexOf(":");
  return colon < 0 ? { name: header.key, value: "" } : { name: header.line.slice(0, colon).trim(), value: header.line.slice(colon + 1).trim() };
}

/**
 * The JSON body Inbound POSTs for an event (see docs/webhooks.md).
 *
 * @example
 * ```ts
 * const body = buildWebhookBody(event, { id: account.id, name: account.name }, { message, attachments }, { publicUrl: "https://inbound.example.com" });
 * ```
 */
export function buildWebhookBody(
  event: DeliveryEvent,
  account: { id: string; name: string | null } | null,
  stored: { message: MessageRecord; attachments: AttachmentRecord[] } | null,
  options: WebhookBodyOptions = {},
): WebhookBody {
  const base = { id: event.id, type: event.type, createdAt: event.createdAt, account };
  if (stored === null) return { ...base, data: event.payload };
  const { message, attachments } = stored;
  const limit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const cut = (s: string | null) => (s !== null && s.length > limit ? s.slice(0, limit) : s);
  const html = message.sanitizedHtml;
  const publicUrl = options.publicUrl?.replace(/\/+$/, "");
  return {
    ...base,
    message: {
      id: message.id,
      messageId: message.messageIdHeader,
      subject: message.subject,
      from: message.from ?? [],
      to: message.to ?? [],
      cc: message.cc ?? [],
      replyTo: message.replyTo ?? [],
      date: message.sentDate,
      receivedAt: message.storedAt,
      size: message.size,
      text: cut(message.textBody),
      html: cut(html),
      truncated: (message.textBody?.length ?? 0) > limit || (html?.length ?? 0) > limit,
      headers: (message.headers ?? []).map(headerPair),
      status: message.status,
      parseError: message.parseError,
      attachments: attachments.map((a) => ({
        id: a.id,
        filename: a.filename,
        contentType: a.contentType,
        size: a.size,
        contentId: a.contentId,
        disposition: a.disposition,
        url: publicUrl ? `${publicUrl}/api/v1/attachments/${encodeURIComponent(a.id)}/content` : null,
      })),
    },
  };
}
