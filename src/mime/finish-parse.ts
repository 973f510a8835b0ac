import type { AddressObject, EmailAddress } from "mailparser";
import { newId } from "../core/ids.js";
import type { InlineImageRef, ParseOptions, ParsedAddress, ParsedAttachment, ParsedMessage } from "./parse-message.js";
import { sanitizeHtml } from "./sanitize-html.js";
import { withoutBidiControls } from "../core/bidi-controls.js";

/**
 * What a MIME reader found, in mailparser's shapes: both readers (the
 * streaming mailparser one and the buffered one) hand this to
 * {@link finishParse}, so the two can only differ in what they read.
 */
export interface MimeFields {
  /** Top-level header lines as mailsplit reports them (`key` lower case, `line` raw, folding kept). */
  headerLines: ReadonlyArray<{ key: string; line: string }>;
  messageId?: string;
  subject?: string;
  from?: AddressObject | AddressObject[];
  to?: AddressObject | AddressObject[];
  cc?: AddressObject | AddressObject[];
  bcc?: AddressObject | AddressObject[];
  replyTo?: AddressObject | AddressObject[];
  text?: string;
  html?: string;
  /** In message order. */
  attachments: ParsedAttachment[];
  parseError: string | null;
}

/** An attachment as a reader describes it (mailparser's attachment fields). */
export interface AttachmentFacts {
  filename?: string;
  contentType: string;
  /** Content-ID without angle brackets. */
  cid?: string;
  /** The Content-Disposition value as written (lower case), if any. */
  contentDisposition?: string;
  /** Under a multipart/related (and has a Content-ID). */
  related?: boolean;
}

/** Longest text or HTML body kept when the options name no limit (UTF-8 bytes). */
export const DEFAULT_MAX_BODY = 10 * 1024 * 1024;
const FIELD_NAME = /^[!-9;-~]+$/;

/** Whether any header line has a well-formed field name: without one, the bytes are not a message. */
export function hasHeaderFields(lines: ReadonlyArray<{ key: string }>): boolean {
  return lines.some((h) => FIELD_NAME.test(h.key));
}

/**
 * The stored form of a parse: bodies cut at the byte limits, HTML sanitized,
 * `cid:` links rewritten, addresses flattened, the sent date read from the
 * Date line itself.
 *
 * @example
 * ```ts
 * const parsed = finishParse({ headerLines, subject: "Hi", text: "hello", attachments: [], parseError: null }, options);
 * ```
 */
export function finishParse(fields: MimeFields, options: ParseOptions): ParsedMessage {
  const text = limit(fields.text, options.maxTextBytes ?? DEFAULT_MAX_BODY);
  let html = limit(fields.html, options.maxHtmlBytes ?? DEFAULT_MAX_BODY);
  const sanitizedHtml = options.sanitize && html !== null ? safeHtml(html, fields.attachments, options) : null;
  if (options.inlineImages && sanitizedHtml === null && html !== null) html = rewriteCidLinks(html, fields.attachments, inlineImageUrl(options));
  return {
    messageId: fields.messageId ?? null,
    subject: fields.subject ?? null,
    from: addresses(fields.from),
    to: addresses(fields.to),
    cc: addresses(fields.cc),
    bcc: addresses(fields.bcc),
    replyTo: addresses(fields.replyTo),
    date: sentDate(fields.headerLines),
    headers: fields.headerLines.map(({ key, line }) => ({ key, line })),
    text,
    html,
    sanitizedHtml,
    attachments: fields.attachments,
    parseError: fields.parseError,
  };
}

/** An attachment as `cid:` links are rewritten to it. */
export type LinkedAttachment = Pick<ParsedAttachment, "id" | "contentId" | "sha256">;

/**
 * A message's HTML as it is stored for pages: sanitized, and with
 * `options.inlineImages` its `cid:` links pointing at the stored inline
 * images. Also what a message sanitized by an older sanitizer gets again.
 *
 * @example
 * ```ts
 * const sanitized = safeHtml(message.htmlBody, attachments, { inlineImages: true });
 * ```
 */
export function safeHtml(html: string, attachments: readonly LinkedAttachment[], options: Pick<ParseOptions, "inlineImages" | "inlineImageUrl">): string {
  const clean = sanitizeHtml(html);
  return options.inlineImages ? rewriteCidLinks(clean, attachments, inlineImageUrl(options)) : clean;
}

/**
 * Inline-image URLs from a template naming `{id}`, `{contentId}` and
 * `{sha256}` (e.g. `https://mail.example.com/api/v1/attachments/{id}/content`).
 */
export function inlineImageUrlFromTemplate(template: string): (att: InlineImageRef) => string {
  return (att) =>
    template
      .replaceAll("{id}", encodeURIComponent(att.id))
      .replaceAll("{contentId}", encodeURIComponent(att.contentId))
      .replaceAll("{sha256}", att.sha256);
}

function inlineImageUrl(options: Pick<ParseOptions, "inlineImageUrl">): (att: InlineImageRef) => string {
  return options.inlineImageUrl ?? ((att) => `/api/v1/attachments/${att.id}/content`);
}

/**
 * One stored attachment record. Inline when the disposition says so, or
 * when there is none and the part is a related one (an embedded image).
 */
export function toAttachment(att: AttachmentFacts, position: number, sha256: string, size: number): ParsedAttachment {
  const disposition = att.contentDisposition?.toLowerCase();
  const inline = disposition === "inline" || (disposition === undefined && att.related === true);
  return {
    id: newId(),
    position,
    filename: att.filename === undefined ? null : withoutBidiControls(att.filename),
    contentType: att.contentType,
    size,
    contentId: att.cid || null,
    disposition: inline ? "inline" : "attachment",
    sha256,
  };
}

function addresses(header: AddressObject | AddressObject[] | undefined): ParsedAddress[] {
  const out: ParsedAddress[] = [];
  const visit = (entry: EmailAddress): void => {
    if (entry.group) entry.group.forEach(visit);
    else if (entry.address) out.push({ name: entry.name ?? "", address: entry.address });
  };
  for (const object of header === undefined ? [] : Array.isArray(header) ? header : [header]) {
    object.value.forEach(visit);
  }
  return out;
}

/** mailparser turns an unreadable Date into "now"; we want to know it was unreadable. */
function sentDate(lines: ReadonlyArray<{ key: string; line: string }>): Date | null {
  const line = lines.find((l) => l.key === "date");
  if (!line) return null;
  const value = line.line.slice(line.line.indexOf(":") + 1).replace(/\r?\n[ \t]+/g, " ").trim();
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

function limit(value: string | undefined, maxBytes: number): string | null {
  if (value === undefined) return null;
  if (value.length * 3 <= maxBytes) return value;
  const bytes = Buffer.from(value, "utf8");
  if (bytes.length <= maxBytes) return value;
  // Cutting inside a multi-byte character leaves a U+FFFD; drop it.
  return bytes.subarray(0, maxBytes).toString("utf8").replace(/\uFFFD$/, "");
}

const CID_REF = /(\bsrc\s*=\s*["']?|\bbackground\s*=\s*["']?|url\(\s*(?:&quot;|["'])?)cid:([^"'\s)>&]+)/gi;

function rewriteCidLinks(html: string, attachments: readonly LinkedAttachment[], url: (att: InlineImageRef) => string): string {
  const byCid = new Map<string, LinkedAttachment>();
  for (const att of attachments) {
    if (att.contentId !== null && !byCid.has(att.contentId)) byCid.set(att.contentId, att);
  }
  if (byCid.size === 0) return html;
  return html.replace(CID_REF, (whole, prefix: string, cid: string) => {
    const att = byCid.get(cid) ?? byCid.get(safeDecode(cid));
    if (!att || att.contentId === null) return whole;
    return prefix + escapeAttribute(url({ id: att.id, contentId: att.contentId, sha256: att.sha256 }));
  });
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/'/g, "&#39;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
