import type { Address, HeaderLine } from "../store/message-repository.js";
import { open, stat, type FileHandle } from "node:fs/promises";
import { Readable } from "node:stream";
import type { AttachmentStream, MessageText } from "mailparser";
import { InboundError, isInboundError } from "../core/inbound-error.js";
import { createBlobStore } from "../store/blob-store.js";
import { createAttachmentBypass } from "./attachment-bypass.js";
import { BUFFERED_PARSE_MAX_BYTES, parseBuffered } from "./buffered-parser.js";
import { DEFAULT_MAX_BODY, finishParse, hasHeaderFields, toAttachment } from "./finish-parse.js";
import { LeanMailParser } from "./lean-mail-parser.js";
import { createMimeStructureCheck } from "./mime-structure-check.js";

/** An inline image as {@link ParseOptions.inlineImageUrl} sees it. */
export interface InlineImageRef {
  id: string;
  contentId: string;
  sha256: string;
}

/** Options for {@link parseMessage}. */
export interface ParseOptions {
  /** Blob store directory; attachments are streamed to `<blobDir>/ab/cd/<sha256>`. */
  blobDir: string;
  /** Also produce `sanitizedHtml` with {@link sanitizeHtml}. */
  sanitize: boolean;
  /** Rewrite `cid:` references to matching attachments into URLs from `inlineImageUrl`. */
  inlineImages: boolean;
  /** URL for an inline image. Default `/api/v1/attachments/${id}/content`. */
  inlineImageUrl?: (att: InlineImageRef) => string;
  /** Longest HTML body kept, in UTF-8 bytes; longer is cut. Default 10 MiB. */
  maxHtmlBytes?: number;
  /** Longest text body kept, in UTF-8 bytes; longer is cut. Default 10 MiB. */
  maxTextBytes?: number;
}

/** One mailbox; groups are flattened into their members (the same shape the store keeps). */
export type ParsedAddress = Address;

/** One raw header line, as it appeared (folding kept). `key` is lower case. */
export type ParsedHeaderLine = HeaderLine;

/** An attachment whose decoded bytes are in the blob store under `sha256`. */
export interface ParsedAttachment {
  /** New UUIDv7, also used in inline image URLs. */
  id: string;
  /** 0-based order in the message. */
  position: number;
  /** RFC 2231 / RFC 2047 decoded. */
  filename: string | null;
  contentType: string;
  /** Decoded size in bytes. */
  size: number;
  /** Content-ID without angle brackets. */
  contentId: string | null;
  disposition: "inline" | "attachment";
  sha256: string;
}

/** The parsed form of one message. Fields the message lacks are `null` or empty. */
export interface ParsedMessage {
  messageId: string | null;
  subject: string | null;
  from: ParsedAddress[];
  to: ParsedAddress[];
  cc: ParsedAddress[];
  bcc: ParsedAddress[];
  replyTo: ParsedAddress[];
  /** The Date header (sent date); `null` when missing or unreadable. */
  date: Date | null;
  /** Every header line of the top-level header, in order, repeats kept. */
  headers: ParsedHeaderLine[];
  text: string | null;
  /**
   * The HTML body as the message has it. When `sanitize` is off and
   * `inlineImages` is on, its `cid:` references are rewritten.
   */
  html: string | null;
  /** Sanitized HTML (`cid:` rewritten when `inlineImages`); `null` when `sanitize` is off. */
  sanitizedHtml: string | null;
  attachments: ParsedAttachment[];
  /** Why the message is not (fully) parseable; whatever could be parsed is still set. */
  parseError: string | null;
}

/** `parseError` when multipart bytes are there but no part could be found in them. */
export const NO_PARTS_ERROR = "multipart body has no parts (missing or wrong boundary)";
/** `parseError` when the bytes do not start with a header section. */
export const NO_HEADERS_ERROR = "no header fields found (not an RFC 5322 message)";
/** `parseError` when a base64 body holds junk; mailparser decodes around it silently. */
export const BAD_BASE64_ERROR = "a base64 part holds characters outside the base64 alphabet";

/**
 * Parse one raw message as a stream. Attachments go straight into the blob
 * store, so memory does not grow with attachment size. Bad MIME never throws:
 * the result carries `parseError` and whatever could be read. Only I/O fails
 * (unreadable source, blob store write) with an {@link InboundError}.
 *
 * @example
 * ```ts
 * const parsed = await parseMessage("/var/mail/raw/123.eml", { blobDir: "/var/lib/inbound/blobs", sanitize: true, inlineImages: true });
 * parsed.attachments[0].sha256; // "9f86d0…"
 * ```
 */
export async function parseMessage(source: string | Readable, options: ParseOptions): Promise<ParsedMessage> {
  if (typeof source !== "string") return (await parseStream(source, options, { bypass: false, shared: true })) as ParsedMessage;
  const size = await fileSize(source);
  if (size <= BUFFERED_PARSE_MAX_BYTES) return parseBytes(await readMessageFile(source, { start: 0, size }), options);
  return parseReopenable(() => openMessageFile(source), options);
}

/**
 * {@link parseMessage} for a message held in memory (at most
 * {@link BUFFERED_PARSE_MAX_BYTES}): read whole by {@link parseBuffered}, or,
 * when it declines, by mailparser from the same bytes.
 */
export async function parseBytes(raw: Buffer, options: ParseOptions): Promise<ParsedMessage> {
  return (await parseBuffered(raw, options)) ?? parseReopenable(async () => Readable.from([raw]), options);
}

/**
 * {@link parseMessage} for a source that can be read again: parsed with the
 * attachment bypass, and once more without it in the rare case the bypass
 * finds it could not reproduce mailparser exactly. `open(true)` is the first
 * read, `open(false)` the second. With `sharedFirst`, the first stream also
 * feeds someone else: a parse that stops early drains it instead of closing it.
 */
export async function parseReopenable(open: (first: boolean) => Promise<Readable>, options: ParseOptions, sharedFirst = false): Promise<ParsedMessage> {
  const parsed = await parseStream(await open(true), options, { bypass: true, shared: sharedFirst });
  return parsed ?? ((await parseStream(await open(false), options, { bypass: false, shared: false })) as ParsedMessage);
}

/**
 * One parse of `input`; `null` when the bypass was used and its result
 * cannot be. A `shared` input is drained, not closed, when the parse stops early.
 */
async function parseStream(input: Readable, options: ParseOptions, how: { bypass: boolean; shared: boolean }): Promise<ParsedMessage | null> {
  const blobs = createBlobStore(options.blobDir);
  const check = createMimeStructureCheck();
  const bypass = how.bypass ? createAttachmentBypass(blobs) : null;
  const parser = new LeanMailParser({
    checksumAlgo: false,
    maxHtmlLengthToParse: options.maxHtmlBytes ?? DEFAULT_MAX_BODY,
  });

  const attachments: ParsedAttachment[] = [];
  const writes: Promise<void>[] = [];
  const streaming = new Set<AttachmentStream>();
  const markersSeen = new Set<string>();
  let markerMismatch = false;
  let seen = 0;
  let body: MessageText | null = null;
  let parseError: string | null = null;
  let ioError: unknown = null;

  await new Promise<void>((resolve) => {
    let settled = false;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      resolve();
    };
    const stop = (): void => {
      input.unpipe(check);
      if (bypass === null) check.unpipe(parser);
      else {
        check.unpipe(bypass);
        bypass.unpipe(parser);
      }
      for (const att of streaming) att.content.destroy(new Error("parse stopped"));
      if (how.shared) input.resume();
      else input.destroy();
    };

    input.on("error", (error) => {
      ioError ??= error;
      stop();
      finish();
    });
    bypass?.on("error", (error) => {
      ioError ??= error;
      stop();
      finish();
    });
    parser.on("error", (error: Error) => {
      parseError ??= error.message || String(error);
      stop();
      finish();
    });
    parser.on("data", (data: AttachmentStream | MessageText) => {
      if (data.type === "text") {
        body = data;
        return;
      }
      const position = seen++;
      streaming.add(data);
      const bypassed = bypass?.parts.get((data as { partId?: string }).partId ?? "");
      const stored = bypassed === undefined
        ? blobs.write(data.content)
        : readAll(data.content).then((content) => {
            if (!content.equals(bypassed.marker)) {
              markerMismatch = true;
              return null;
            }
            markersSeen.add(bypassed.partId);
            return bypassed.blob;
          });
      writes.push(
        stored.then(
          (ref) => {
            if (ref !== null) attachments.push(toAttachment(data, position, ref.sha256, ref.size));
          },
          (error: unknown) => {
            // The store throws InboundError for disk trouble; anything else came
            // from decoding the part, or from tearing it down after a parse error.
            if (isInboundError(error)) ioError ??= error;
            else parseError ??= (error as Error)?.message ?? String(error);
          },
        ).finally(() => {
          streaming.delete(data);
          data.release?.();
        }),
      );
    });
    parser.on("end", finish);
    if (bypass === null) input.pipe(check).pipe(parser);
    else input.pipe(check).pipe(bypass).pipe(parser);
  });
  await Promise.all(writes);

  if (bypass !== null && (bypass.unusable !== null || markerMismatch || markersSeen.size !== bypass.parts.size)) return null;
  if (ioError !== null) {
    if (isInboundError(ioError)) throw ioError;
    throw new InboundError("STORE_FAILED", {
      message: `Could not read the message source: ${(ioError as Error).message}`,
      cause: ioError,
      retryable: true,
    });
  }

  attachments.sort((a, b) => a.position - b.position);
  const text = (body as MessageText | null)?.text;
  const html = (body as MessageText | null)?.html;
  const headerLines = parser.headerLines || [];
  const report = check.report();
  if (parseError === null && !hasHeaderFields(headerLines)) {
    parseError = NO_HEADERS_ERROR;
  } else if (parseError === null && report.hasBody && text === undefined && html === undefined && attachments.length === 0) {
    parseError = NO_PARTS_ERROR;
  } else if (parseError === null && report.badBase64) {
    parseError = BAD_BASE64_ERROR;
  }

  return finishParse(
    {
      headerLines,
      messageId: parser.messageId,
      subject: parser.subject,
      from: parser.from,
      to: parser.to,
      cc: parser.cc,
      bcc: parser.bcc,
      replyTo: parser.replyTo,
      text,
      html,
      attachments,
      parseError,
    },
    options,
  );
}

/**
 * Open a stored message for reading: the whole file, or `range` of it (a
 * message inside a spool segment). A missing file is STORE_FAILED, not
 * retryable; any other failure to open is retryable.
 */
export async function openMessageFile(path: string, range?: { start: number; size: number }): Promise<Readable> {
  try {
    const handle = await open(path, "r");
    if (range === undefined) return handle.createReadStream({ highWaterMark: 64 * 1024 });
    if (range.size === 0) {
      await handle.close();
      return Readable.from([]);
    }
    return handle.createReadStream({ start: range.start, end: range.start + range.size - 1, highWaterMark: 64 * 1024 });
  } catch (error) {
    throw openFailed(path, error);
  }
}

/**
 * Read `range` of a stored message file into memory (what {@link parseBytes}
 * takes). Errors as {@link openMessageFile}; a file that ends before the
 * range does is STORE_FAILED, not retryable.
 */
export async function readMessageFile(path: string, range: { start: number; size: number }): Promise<Buffer> {
  const raw = Buffer.allocUnsafe(range.size);
  let handle: FileHandle;
  try {
    handle = await open(path, "r");
  } catch (error) {
    throw openFailed(path, error);
  }
  try {
    let filled = 0;
    while (filled < range.size) {
      const { bytesRead } = await handle.read(raw, filled, range.size - filled, range.start + filled);
      if (bytesRead === 0) {
        throw new InboundError("STORE_FAILED", {
          message: `Message file ${path} ends ${range.size - filled} bytes before the stored message does: the raw file is damaged; restore it from a backup.`,
          retryable: false,
        });
      }
      filled += bytesRead;
    }
    return raw;
  } catch (error) {
    if (isInboundError(error)) throw error;
    throw openFailed(path, error);
  } finally {
    await handle.close();
  }
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (error) {
    throw openFailed(path, error);
  }
}

/** A missing file is STORE_FAILED, not retryable; any other failure to read it is retryable. */
function openFailed(path: string, error: unknown): InboundError {
  const missing = (error as NodeJS.ErrnoException).code === "ENOENT";
  return new InboundError("STORE_FAILED", {
    message: missing ? `Message file ${path} does not exist` : `Could not read message file ${path}: ${(error as Error).message}`,
    cause: error,
    retryable: !missing,
  });
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
