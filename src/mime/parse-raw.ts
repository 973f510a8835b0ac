import { PassThrough } from "node:stream";
import { InboundError } from "../core/inbound-error.js";
import { createBlobStore } from "../store/blob-store.js";
import { openMessageFile, parseReopenable, type ParseOptions, type ParsedMessage } from "./parse-message.js";

/** Where a stored raw message is, as the parser gets it (plain data: it crosses to worker threads). */
export interface RawSource {
  /** The file: the message's blob, or the spool segment holding it. */
  path: string;
  /** The message's bytes within `path` when that is a spool segment. */
  range?: { start: number; size: number };
  /**
   * Copy the bytes into the blob store while parsing, where they must hash to
   * this SHA-256 (the spool is read once, for both).
   */
  promote?: string;
}

/**
 * {@link parseMessage} for a raw message wherever it is stored; with
 * `promote`, the same read also writes its blob, and a hash that differs
 * from the recorded one fails the parse (a damaged spool is never
 * published as the message).
 *
 * @example
 * ```ts
 * const parsed = await parseRaw({ path: spool.path(seg), range: { start: 0, size: 1234 }, promote: sha256 }, { blobDir, sanitize: true, inlineImages: true });
 * ```
 */
export async function parseRaw(source: RawSource, options: ParseOptions): Promise<ParsedMessage> {
  const reopen = () => openMessageFile(source.path, source.range);
  if (source.promote === undefined) return parseReopenable(reopen, options);
  const input = await reopen();

  const expected = source.promote;
  const toParser = new PassThrough({ highWaterMark: 64 * 1024 });
  const toBlob = new PassThrough({ highWaterMark: 64 * 1024 });
  input.on("error", (error) => {
    toParser.destroy(error);
    toBlob.destroy(error);
  });
  input.pipe(toParser);
  input.pipe(toBlob);
  const blob = createBlobStore(options.blobDir)
    .write(toBlob)
    .catch((error: unknown) => {
      // The parser must not wait for bytes the stalled copy holds back.
      toParser.destroy(error instanceof Error ? error : new Error(String(error)));
      throw error;
    });
  const parsing = parseReopenable(async (first) => (first ? toParser : reopen()), options, true);
  parsing.catch(() => toParser.resume());
  const [parsed, written] = await Promise.allSettled([parsing, blob]);
  if (written.status === "rejected") throw written.reason;
  if (written.value.sha256 !== expected) {
    throw new InboundError("STORE_FAILED", {
      message: `The spooled bytes in ${source.path} hash to ${written.value.sha256}, not the recorded ${expected}: the spool file is damaged; restore it from a backup.`,
      retryable: false,
    });
  }
  if (parsed.status === "rejected") throw parsed.reason;
  return parsed.value;
}
