import { sanitizeHtml } from "../mime/sanitize-html.js";
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
  /** The sanitized HTML. When cut, it was sanitized again after the cut, so it ends with whole tags and closes every element. */
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

/** The first `end` characters, one fewer when that would split a surrogate pair. */
function prefix(s: string, end: number): string {
  const code = s.charCodeAt(end - 1);
  return s.slice(0, code >= 0xd800 && code <= 0xdbff ? end - 1 : end);
}

/**
 * Cut sanitized HTML to at most `limit` characters that are still safe to
 * put into a page. A plain cut can end inside a tag: after
 * `<img src="https://evil.example/?` a receiver's page would send the rest
 * of itself to evil.example. So the cut goes back to before a broken tag and
 * is sanitized again, which also closes every open element. When those
 * closing tags don't fit, {@link fitClosed} shortens it. A URL the stored
 * HTML had made relative (inline images rewritten to
 * `/api/v1/attachments/...`) does not survive the second pass; it would
 * point into the receiver's own site anyway, and the attachment list has
 * the absolute URLs.
 */
function cutHtml(html: string, limit: number): string {
  let cut = prefix(html, limit);
  // Sanitized HTML escapes every "<" and ">" that is not markup, so a "<" after the last ">" opens the tag the cut broke.
  const open = cut.lastIndexOf("<");
  if (open > cut.lastIndexOf(">")) cut = cut.slice(0, open);
  // A cut inside an entity (`&am`) would come back as the text "&am".
  const clean = sanitizeHtml(cut.replace(/&[A-Za-z0-9#]*$/, ""));
  return clean.length <= limit ? clean : fitClosed(clean, limit);
}

const VOID_ELEMENTS = new Set(["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"]);

/**
 * The longest prefix of the sanitizer's output that fits in `limit`
 * characters together with the end tags of the elements it leaves open,
 * and those end tags. It cuts only between tags, entities and characters:
 * in that output every "<" starts a tag, every ">" ends one and every "&"
 * starts an entity. Length plus pending end tags never shrinks along the
 * text (an end tag moves its own length from one to the other), so the
 * first piece that doesn't fit ends the longest prefix that does.
 */
function fitClosed(html: string, limit: number): string {
  const open: string[] = [];
  let pending = 0; // characters of the end tags `open` needs
  let i = 0;
  while (i < html.length) {
    const c = html.charCodeAt(i);
    let next = i + 1;
    if (c === 0x3c || c === 0x26) next = html.indexOf(c === 0x3c ? ">" : ";", i) + 1; // a tag, an entity
    else if (c >= 0xd800 && c <= 0xdbff) next = i + 2;
    if (next <= i) break;
    const tag = c === 0x3c ? /^<(\/?)([A-Za-z][A-Za-z0-9-]*)[^>]*?(\/?)>$/.exec(html.slice(i, next)) : null;
    let opened: string | null = null;
    let closedAt = -1;
    let after = pending;
    if (tag !== null) {
      const name = tag[2].toLowerCase();
      if (tag[1] === "/") {
        closedAt = open.lastIndexOf(name);
        if (closedAt >= 0) for (const closed of open.slice(closedAt)) after -= closed.length + 3;
      } else if (tag[3] === "" && !VOID_ELEMENTS.has(name)) {
        opened = name;
        after += name.length + 3;
      }
    }
    if (next + after > limit) break;
    if (opened !== null) open.push(opened);
    if (closedAt >= 0) open.length = closedAt;
    pending = after;
    i = next;
  }
  return html.slice(0, i) + open.reverse().map((name) => `</${name}>`).join("");
}

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
/**
 * Inline images rewritten to stored attachments (`inlineImages`) point at
 * Inbound's own API with a path. A receiver's page would resolve that against
 * its own site, so with a public URL they are made absolute; without one
 * they stay as stored (and a cut body, sanitized again, drops them).
 */
function withAbsoluteImageLinks(html: string, publicUrl: string | undefined): string {
  if (publicUrl === undefined || !html.includes('src="/api/v1/attachments/')) return html;
  return html.replaceAll('src="/api/v1/attachments/', `src="${publicUrl}/api/v1/attachments/`);
}

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
  const text = message.textBody;
  const publicUrl = options.publicUrl?.replace(/\/+$/, "");
  const html = message.sanitizedHtml === null ? null : withAbsoluteImageLinks(message.sanitizedHtml, publicUrl);
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
      text: text !== null && text.length > limit ? prefix(text, limit) : text,
      html: html !== null && html.length > limit ? cutHtml(html, limit) : html,
      truncated: (text?.length ?? 0) > limit || (html?.length ?? 0) > limit,
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
