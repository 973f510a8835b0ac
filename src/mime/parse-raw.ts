import { createHash } from "node:crypto";
import { Transform, type Readable } from "node:stream";
import { InboundError } from "../core/inbound-error.js";
import { BUFFERED_PARSE_MAX_BYTES } from "./buffered-parser.js";
import { openMessageFile, parseBytes, parseReopenable, readMessageFile, type ParseOptions, type ParsedMessage } from "./parse-message.js";

/** Where a stored raw message is, as the parser gets it (plain data: it crosses to worker threads). */
export interface RawSource {
  /** The file: the message's segment file (or, for messages stored before segments were kept, its blob). */
  path: string;
  /** The message's bytes within `path` when that is a segment. */
  range?: { start: number; size: number };
  /** The SHA-256 recorded when the message was taken: the bytes read must still hash to it. */
  sha256?: string;
}

/**
 * {@link parseMessage} for a raw message wherever it is stored. With
 * `sha256`, the bytes are hashed on the same read, and a hash that differs
 * from the recorded one fails the parse with STORE_FAILED (a damaged segment
 * is never presented as the message; it stays pending).
 *
 * @example
 * ```ts
 * const parsed = await parseRaw({ path: spool.path(seg), range: { start: 0, size: 1234 }, sha256 }, { blobDir, sanitize: true, inlineImages: true });
 * ```
 */
export async function parseRaw(source: RawSource, options: ParseOptions): Promise<ParsedMessage> {
  if (source.range !== undefined && source.range.size <= BUFFERED_PARSE_MAX_BYTES) {
    const raw = await readMessageFile(source.path, source.range);
    if (source.sha256 !== undefined) {
      const actual = createHash("sha256").update(raw).digest("hex");
      if (actual !== source.sha256) throw damaged(source.path, actual, source.sha256);
    }
    return parseBytes(raw, options);
  }
  const reopen = () => openMessageFile(source.path, source.range);
  const expected = source.sha256;
  if (expected === undefined) return parseReopenable(reopen, options);

  // parseReopenable always opens the first read before it can resolve.
  const firstRead: { digest?: Promise<string> } = {};
  const open = async (first: boolean): Promise<Readable> => {
    const input = await reopen();
    if (!first) return input;
    const hashed = hashing(input);
    firstRead.digest = hashed.digest;
    return hashed.stream;
  };
  // Shared: a parse that stops early drains the first read rather than closing it, so the hash still covers every byte.
  const parsed = await parseReopenable(open, options, true);
  const actual = await firstRead.digest;
  if (actual !== expected) throw damaged(source.path, actual as string, expected);
  return parsed;
}

function damaged(path: string, actual: string, expected: string): InboundError {
  return new InboundError("STORE_FAILED", {
    message: `The stored bytes in ${path} hash to ${actual}, not the recorded ${expected}: the raw file is damaged; restore it from a backup.`,
    retryable: false,
  });
}

/** `input` passed through unchanged, with the SHA-256 of everything that went through once it ended. */
function hashing(input: Readable): { stream: Readable; digest: Promise<string> } {
  const hash = createHash("sha256");
  let resolveDigest!: (hex: string) => void;
  let rejectDigest!: (error: unknown) => void;
  const digest = new Promise<string>((resolve, reject) => {
    resolveDigest = resolve;
    rejectDigest = reject;
  });
  digest.catch(() => undefined);
  const stream = new Transform({
    highWaterMark: 64 * 1024,
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done(null, chunk);
    },
    flush(done) {
      resolveDigest(hash.digest("hex"));
      done();
    },
  });
  input.on("error", (error) => {
    rejectDigest(error);
    stream.destroy(error);
  });
  stream.on("close", () => rejectDigest(new Error("the message was not read to its end")));
  input.pipe(stream);
  return { stream, digest };
}
