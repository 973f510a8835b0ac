import type { Readable } from "node:stream";
import type { AttachmentRecord } from "../store/message-repository.js";

/** The Content-Security-Policy of a message's HTML view: no script, no network but our own images. */
export function messageHtmlPolicy(remoteImages: boolean): string {
  const images = remoteImages ? "'self' data: cid: https:" : "'self' data: cid:";
  return `default-src 'none'; img-src ${images}; style-src 'unsafe-inline'; sandbox allow-popups allow-popups-to-escape-sandbox; frame-ancestors 'self'; base-uri 'none'; form-action 'none'`;
}

const MAX_INLINE_BYTES = 2 * 1024 * 1024;
const MAX_INLINE_TOTAL = 10 * 1024 * 1024;

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * The sanitized HTML as a document for a sandboxed iframe. Images the
 * message carries (`cid:` references and `/api/v1/attachments/{id}/content`
 * links to its own attachments) are inlined as `data:` URLs: a sandboxed
 * frame has an opaque origin, so it would not send the session cookie.
 *
 * @example
 * ```ts
 * const html = await messageHtmlDocument(message.sanitizedHtml, attachments, (a) => inbound.attachmentContent(a.id).then((x) => x.content));
 * ```
 */
export async function messageHtmlDocument(sanitizedHtml: string, attachments: readonly AttachmentRecord[], open: (attachment: AttachmentRecord) => Promise<Readable>): Promise<string> {
  const images = attachments.filter((a) => /^image\/[a-z0-9.+-]+$/i.test(a.contentType) && a.size <= MAX_INLINE_BYTES);
  const byCid = new Map(images.filter((a) => a.contentId).map((a) => [a.contentId!.replace(/^<|>$/g, "").toLowerCase(), a]));
  const byId = new Map(images.map((a) => [a.id, a]));
  const wanted = new Map<string, AttachmentRecord>();
  const pattern = /cid:([^"'\s)<>]+)|\/api\/v1\/attachments\/([A-Za-z0-9-]+)\/content/g;
  for (const match of sanitizedHtml.matchAll(pattern)) {
    const attachment = match[1] !== undefined ? byCid.get(decodeURIComponentSafe(match[1]).toLowerCase()) : byId.get(match[2]);
    if (attachment) wanted.set(attachment.id, attachment);
  }
  const dataUrls = new Map<string, string>();
  let total = 0;
  for (const attachment of wanted.values()) {
    if (total + attachment.size > MAX_INLINE_TOTAL) break;
    total += attachment.size;
    dataUrls.set(attachment.id, `data:${attachment.contentType.toLowerCase()};base64,${(await readAll(await open(attachment))).toString("base64")}`);
  }
  const body = sanitizedHtml.replace(pattern, (whole, cid: string | undefined, id: string | undefined) => {
    const attachment = cid !== undefined ? byCid.get(decodeURIComponentSafe(cid).toLowerCase()) : byId.get(id!);
    return (attachment && dataUrls.get(attachment.id)) ?? whole;
  });
  return `<!doctype html>\n<html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer"><base target="_blank"></head><body>\n${body}\n</body></html>\n`;
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
