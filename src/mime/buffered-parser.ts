/*
 * Why a second MIME reader: mailparser's streaming machinery (mailsplit's
 * line splitter, a Transform per part, a setImmediate per line group) costs
 * more than the decoding it does: about 7 ms of CPU per message on the
 * benchmark corpus, where this reader, working on the whole message in
 * memory, spends a fraction of that. It reuses mailparser's own pieces for
 * every decision about meaning (mailsplit's MimeNode reads each part's
 * headers, mailparser's processHeaders the top-level fields, libmime decodes
 * charsets, libqp quoted-printable, html-to-text the text of an HTML-only
 * message) and only replaces the splitting and the streams.
 *
 * It reads only what it can read exactly as mailparser would, and says so by
 * returning null for everything else (forwarded messages, format=flowed, a
 * missing closing boundary, a boundary look-alike, junk in base64, a text
 * part beside HTML outside multipart/alternative, anything mailparser would
 * flag): the caller then parses the message with mailparser. Tests hold the
 * two to the same result on the benchmark corpus and every test fixture.
 */
import { MimeNode } from "@zone-eu/mailsplit";
import { compile } from "html-to-text";
import libmime from "libmime";
import { decode as decodeCharset } from "libmime/lib/charset.js";
import { decode as decodeQuotedPrintable } from "libqp";
import type { AddressObject } from "mailparser";
import { createBlobStore, type BlobStore } from "../store/blob-store.js";
import { DEFAULT_MAX_BODY, finishParse, hasHeaderFields, toAttachment, type AttachmentFacts } from "./finish-parse.js";
import { LeanMailParser } from "./lean-mail-parser.js";
import { hasNonBase64 } from "./mime-structure-check.js";
import type { ParseOptions, ParsedAttachment, ParsedMessage } from "./parse-message.js";

/** Messages up to this size are read whole; larger ones stream through mailparser. */
export const BUFFERED_PARSE_MAX_BYTES = 4 * 1024 * 1024;

const LF = 0x0a;
const CR = 0x0d;
const DASH = 0x2d;
const EQUALS = 0x3d;
const MAX_HEADER_BLOCK = 256 * 1024;
const MAX_PARTS = 500;
/** mailparser's limit for html-to-text; deeper HTML gets an empty text there. */
const MAX_HTML_DEPTH = 1000;
/** mailsplit's limit on the whitespace a delimiter line may end in. */
const MAX_DELIMITER_WSP = 998;
/** Encoded bytes decoded at a time: the string for a slice stays in V8's young generation. */
const BASE64_SLICE_BYTES = 60 * 1024;
/** Whitespace other than line breaks that a base64 body may hold (the \s of the alphabet check). */
const BASE64_SPACES = [0x20, 0x09, 0x0b, 0x0c, 0xa0];
const TEXT_TYPES = new Set(["text/plain", "text/html"]);
const UTF8_NAMES = new Set(["ascii", "usascii", "utf8"]);

/** A MIME part as this reader sees it: mailsplit's node plus where its body is. */
interface Part {
  node: MimeNode;
  bodyStart: number;
  bodyEnd: number;
  children: Part[];
  parent: Part | null;
}

/** An inline text part's decoded content, in tree order. */
interface TextLeaf {
  type: "text/plain" | "text/html";
  content: string;
  /** Under a multipart/alternative. */
  alternative: boolean;
  root: boolean;
}

/** Thrown inside the reader for anything it does not read the way mailparser would. */
class NotMine extends Error {}

/** mailparser's header interpretation (addresses, encoded words, Message-ID), without a stream. */
interface HeaderReader {
  processHeaders(lines: ReadonlyArray<{ key: string; line: string }>): Map<string, unknown>;
}

let reader: HeaderReader | null = null;
const mime = new libmime.Libmime();
let htmlToText: ((html: string) => string) | null = null;

/** One LeanMailParser per thread, used only for its header interpretation. */
function headerReader(): HeaderReader {
  reader ??= new LeanMailParser() as unknown as HeaderReader;
  return reader;
}

/** A parsed node's header lines (mailsplit's `{ key, line }`, raw, folding kept). */
function headerLinesOf(node: MimeNode): Array<{ key: string; line: string }> {
  return (node.headers as InstanceType<typeof MimeNode>["headers"] & object).getList();
}

/**
 * Parse a whole message held in memory, as mailparser would. Attachments are
 * written to the blob store. Returns null when the message has anything this
 * reader does not reproduce exactly; parse it with mailparser then.
 *
 * @example
 * ```ts
 * const parsed = (await parseBuffered(raw, options)) ?? (await parseMessage(Readable.from([raw]), options));
 * ```
 */
export async function parseBuffered(raw: Buffer, options: ParseOptions): Promise<ParsedMessage | null> {
  let root: Part;
  try {
    root = readTree(raw);
  } catch (error) {
    if (error instanceof NotMine) return null;
    throw error;
  }

  const headerLines = headerLinesOf(root.node);
  if (!hasHeaderFields(headerLines)) return null;

  const texts: TextLeaf[] = [];
  const found: Array<{ facts: AttachmentFacts; content: Buffer }> = [];
  let hasText = false;
  let hasHtml = false;
  try {
    const visit = (part: Part, alternative: boolean): void => {
      const { node } = part;
      if (node.multipart) {
        const inner = alternative || node.contentType === "multipart/alternative";
        for (const child of part.children) visit(child, inner);
        return;
      }
      const contentType = node.contentType as string;
      let disposition = node.disposition;
      if (disposition && disposition !== "attachment" && disposition !== "inline") disposition = "attachment";
      const partDisposition = !disposition && !TEXT_TYPES.has(contentType) ? "attachment" : disposition || "inline";
      const content = transferDecode(node, raw, part.bodyStart, part.bodyEnd);
      if (!TEXT_TYPES.has(contentType) || partDisposition !== "inline") {
        found.push({ facts: attachmentFacts(part, contentType), content });
        return;
      }
      if (node.flowed) throw new NotMine("format=flowed");
      if (contentType === "text/plain") hasText = true;
      else hasHtml = true;
      texts.push({ type: contentType as TextLeaf["type"], content: decodeText(content, node.charset), alternative, root: part.parent === null });
    };
    visit(root, false);
  } catch (error) {
    if (error instanceof NotMine) return null;
    throw error;
  }

  const text: string[] = [];
  const html: string[] = [];
  for (const leaf of texts) {
    if (leaf.content === "") continue;
    if (leaf.type === "text/plain") {
      // mailparser turns such a part into HTML (escaped, linkified): rare, left to it.
      if (!leaf.alternative && hasHtml) return null;
      text.push(leaf.content);
      continue;
    }
    if ((!leaf.alternative && hasText) || (leaf.root && !hasText)) {
      if (leaf.content.length > (options.maxHtmlBytes ?? DEFAULT_MAX_BODY)) text.push("");
      else if (mayNestDeeperThan(leaf.content, MAX_HTML_DEPTH)) return null;
      else text.push(toText(leaf.content));
    }
    html.push(leaf.content);
  }
  if (text.length === 0 && html.length === 0 && found.length === 0) return null;

  const blobs = createBlobStore(options.blobDir);
  const attachments = await storeAttachments(blobs, found);
  const fields = headerReader().processHeaders(headerLines);
  const field = <T>(key: string): T | undefined => fields.get(key) as T | undefined;
  return finishParse(
    {
      headerLines,
      messageId: field<string>("message-id"),
      subject: field<string>("subject"),
      from: field<AddressObject>("from"),
      to: field<AddressObject | AddressObject[]>("to"),
      cc: field<AddressObject | AddressObject[]>("cc"),
      bcc: field<AddressObject | AddressObject[]>("bcc"),
      replyTo: field<AddressObject>("reply-to"),
      text: text.length > 0 ? text.join("\n") : undefined,
      html: html.length > 0 ? html.join("<br/>\n") : undefined,
      attachments,
      parseError: null,
    },
    options,
  );
}

async function storeAttachments(blobs: BlobStore, found: Array<{ facts: AttachmentFacts; content: Buffer }>): Promise<ParsedAttachment[]> {
  const out: ParsedAttachment[] = [];
  for (const [position, { facts, content }] of found.entries()) {
    const ref = await blobs.writeBuffer(content);
    out.push(toAttachment(facts, position, ref.sha256, ref.size));
  }
  return out;
}

/** The MIME tree of `raw`; throws NotMine where it would have to guess. */
function readTree(raw: Buffer): Part {
  let parts = 0;
  /** `end` is where the next delimiter line starts; a child's body stops before the line break in front of it. */
  const readPart = (start: number, end: number, parent: Part | null): Part => {
    if (++parts > MAX_PARTS) throw new NotMine("too many parts");
    const headerEnd = findHeaderEnd(raw, start, end);
    const bodyEnd = parent === null ? end : childBodyEnd(raw, headerEnd, end);
    if (parent === null && /^(?:from |post )/i.test(raw.toString("latin1", start, Math.min(start + 5, end)))) throw new NotMine("mbox or HTTP preamble");
    const node = new MimeNode(parent?.node ?? false);
    node.addHeaderChunk(raw.subarray(start, headerEnd));
    node.parseHeaders();
    const contentType = node.contentType;
    if (contentType === false || contentType.startsWith("message/") || contentType === "multipart/digest") throw new NotMine(`content type ${contentType}`);
    const part: Part = { node, bodyStart: headerEnd, bodyEnd, children: [], parent };
    if (node.multipart) {
      if (node._boundary === false) throw new NotMine("multipart without a boundary");
      for (const [childStart, childEnd] of splitParts(raw, headerEnd, bodyEnd, node._boundary)) {
        part.children.push(readPart(childStart, childEnd, part));
      }
    }
    return part;
  };
  return readPart(0, raw.length, null);
}

/** Where the body starts: after the first empty line. */
function findHeaderEnd(raw: Buffer, start: number, end: number): number {
  if (raw[start] === LF) return start + 1;
  if (raw[start] === CR && raw[start + 1] === LF && start + 1 < end) return start + 2;
  let pos = start;
  for (;;) {
    const nl = raw.indexOf(LF, pos);
    if (nl === -1 || nl >= end || nl - start > MAX_HEADER_BLOCK) throw new NotMine("no end of the header block");
    if (nl + 1 < end && raw[nl + 1] === LF) return nl + 2;
    if (nl + 2 < end && raw[nl + 1] === CR && raw[nl + 2] === LF) return nl + 3;
    pos = nl + 1;
  }
}

/**
 * The ranges of a multipart's parts, each up to the delimiter line after it.
 * Every `--boundary` in the body up to the closing delimiter has to be a
 * whole delimiter line at a line start, the first may not close, and the
 * close has to be there.
 */
function splitParts(raw: Buffer, start: number, end: number, boundary: Buffer): Array<[number, number]> {
  const marker = Buffer.concat([Buffer.from("--"), boundary]);
  const ranges: Array<[number, number]> = [];
  let open = -1;
  for (let at = raw.indexOf(marker, start); at !== -1 && at < end; at = raw.indexOf(marker, at + 1)) {
    if (at !== start && raw[at - 1] !== LF) throw new NotMine("boundary text inside a line");
    const line = delimiterLine(raw, at + marker.length, end);
    if (open !== -1) ranges.push([open, at]);
    else if (line.closing) throw new NotMine("closing delimiter in the preamble");
    if (line.closing) return ranges;
    open = line.next;
  }
  throw new NotMine("no closing delimiter");
}

/**
 * Where a part's body ends: before the line break that belongs to the
 * delimiter at `delimiter`. mailsplit keeps a body that is nothing but that
 * one line break (its trim leaves an empty group, which it passes on as read).
 */
function childBodyEnd(raw: Buffer, bodyStart: number, delimiter: number): number {
  let end = delimiter;
  if (end > bodyStart && raw[end - 1] === LF) end--;
  if (end > bodyStart && raw[end - 1] === CR) end--;
  return end === bodyStart ? delimiter : end;
}

/** The rest of a delimiter line after `--boundary`: `--`? WSP* CR* LF, or the end for a close. */
function delimiterLine(raw: Buffer, pos: number, end: number): { closing: boolean; next: number } {
  let closing = false;
  if (pos + 1 < end && raw[pos] === DASH && raw[pos + 1] === DASH) {
    closing = true;
    pos += 2;
  }
  const wspStart = pos;
  while (pos < end && (raw[pos] === 0x20 || raw[pos] === 0x09)) pos++;
  if (pos - wspStart > MAX_DELIMITER_WSP) throw new NotMine("overlong delimiter line");
  if (pos === end) {
    if (!closing) throw new NotMine("delimiter at the end of input");
    return { closing, next: pos };
  }
  while (pos < end && raw[pos] === CR) pos++;
  if (pos < end && raw[pos] === LF) return { closing, next: pos + 1 };
  throw new NotMine("boundary look-alike");
}

/**
 * A body's bytes with its transfer encoding undone, as mailsplit's decoders
 * give them. Base64 is read by Node only when it is plainly valid: the
 * alphabet, whitespace, and padding only at the end.
 */
function transferDecode(node: MimeNode, raw: Buffer, start: number, end: number): Buffer {
  if (node.encoding === "quoted-printable") return decodeQuotedPrintable(raw.subarray(start, end));
  if (node.encoding !== "base64") return raw.subarray(start, end);
  if (hasNonBase64(raw, start, end)) throw new NotMine("junk in base64");
  const pad = raw.indexOf(EQUALS, start);
  if (pad !== -1 && pad < end) {
    for (let i = pad; i < end; i++) {
      const byte = raw[i];
      if (byte !== EQUALS && byte !== CR && byte !== LF && byte !== 0x20 && byte !== 0x09) throw new NotMine("base64 padding in the middle");
    }
  }
  return decodeBase64(raw, start, end, pad === -1 || pad > end ? end : pad);
}

/**
 * `Buffer.from(latin1, "base64")` of `raw[start, end)`, in slices of whole
 * lines when the body is regular (every line as long as the first, a
 * multiple of four characters, no spaces): a string per slice dies young,
 * where one for a whole 2 MB body goes to V8's large-object space and costs
 * a mark-compact (that was ~10 % of a parse's CPU). Each slice before the
 * padding must decode to exactly three bytes per four characters; one that
 * does not held a stray line break, and the body is decoded whole instead.
 * A slice boundary is then a quantum boundary, so the slices decode to what
 * the whole does.
 */
function decodeBase64(raw: Buffer, start: number, end: number, padAt: number): Buffer {
  const whole = () => Buffer.from(raw.toString("latin1", start, end), "base64");
  const lines = end - start > BASE64_SLICE_BYTES ? regularLines(raw.subarray(start, end)) : null;
  if (lines === null) return whole();
  const linesPerSlice = Math.max(1, Math.floor(BASE64_SLICE_BYTES / lines.step));
  const sliceBytes = linesPerSlice * lines.step;
  const sliceDecoded = ((linesPerSlice * lines.chars) / 4) * 3;
  const out = Buffer.allocUnsafe(Math.ceil((end - start) / 4) * 3);
  let written = 0;
  let at = start;
  for (; at + sliceBytes <= padAt; at += sliceBytes) {
    const n = out.write(raw.toString("latin1", at, at + sliceBytes), written, "base64");
    if (n !== sliceDecoded) return whole();
    written += n;
  }
  written += out.write(raw.toString("latin1", at, end), written, "base64");
  return out.subarray(0, written);
}

/** The line layout of a base64 body whose full lines all end where the first one does; null otherwise. */
function regularLines(body: Buffer): { step: number; chars: number } | null {
  const nl = body.indexOf(LF);
  if (nl <= 0) return null;
  const eol = body[nl - 1] === CR ? 2 : 1;
  const step = nl + 1;
  const chars = step - eol;
  if (chars === 0 || chars % 4 !== 0) return null;
  for (const space of BASE64_SPACES) if (body.indexOf(space) !== -1) return null;
  for (let p = nl; p < body.length; p += step) {
    if (body[p] !== LF || (eol === 2 && body[p - 1] !== CR)) return null;
  }
  return { step, chars };
}

/** A text part's characters, as mailparser decodes them (libmime, lone surrogates replaced, LF line ends). */
function decodeText(content: Buffer, charset: string | false): string {
  const name = charset || "utf-8";
  const text = UTF8_NAMES.has(name.toLowerCase().replace(/[^a-z0-9]+/g, "")) ? content.toString() : wellFormed(decodeCharset(content, name));
  return text.replace(/\r?\n/g, "\n");
}

/** Lone surrogates as U+FFFD, as the UTF-8 round trip in mailparser's decode stream leaves them (String#toWellFormed, Node 20). */
function wellFormed(text: string): string {
  return (text as string & { toWellFormed(): string }).toWellFormed();
}

function attachmentFacts(part: Part, contentType: string): AttachmentFacts {
  const { node } = part;
  const facts: AttachmentFacts = { contentType };
  if (contentType === "application/octet-stream" && node.filename) {
    facts.contentType = mime.detectMimeType(node.filename) || "application/octet-stream";
  }
  if (node.disposition) facts.contentDisposition = node.disposition;
  if (node.filename) facts.filename = node.filename;
  const headers = headerReader().processHeaders(headerLinesOf(node));
  const contentId = headers.get("content-id");
  if (typeof contentId === "string") {
    facts.cid = contentId.trim().replace(/^<|>$/g, "").trim();
    for (let up = part.parent; up !== null; up = up.parent) {
      if (up.node.contentType === "multipart/related") facts.related = true;
    }
  }
  return facts;
}

/**
 * Whether HTML could nest deeper than `limit` elements: a bound, not a
 * measure (every start tag counted as if none closed), so "no" is certain
 * and "yes" sends the message to mailparser, which measures.
 */
function mayNestDeeperThan(html: string, limit: number): boolean {
  let tags = 0;
  for (let at = html.indexOf("<"); at !== -1; at = html.indexOf("<", at + 1)) {
    const next = html.charCodeAt(at + 1);
    if (((next | 0x20) >= 0x61 && (next | 0x20) <= 0x7a) || (next >= 0x30 && next <= 0x39) || next === 0x2d || next === 0x3a || next === 0x5f) {
      if (++tags > limit) return true;
    }
  }
  return false;
}

/** html-to-text with mailparser's options, compiled once. */
function toText(html: string): string {
  htmlToText ??= compile({ limits: { maxDepth: MAX_HTML_DEPTH } });
  return htmlToText(html);
}
