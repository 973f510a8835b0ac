import { randomBytes } from "node:crypto";
import { Transform } from "node:stream";
import type { BlobRef, BlobStore, BlobWriter } from "../store/blob-store.js";

/** An attachment whose body went straight to the blob store. */
export interface BypassedPart {
  /** The part's number as mailparser reports it (`partId`, e.g. "2" or "1.3"). */
  partId: string;
  /** The bytes mailparser decodes the part to once its body is replaced. */
  marker: Buffer;
  /** The decoded body in the blob store (settles after the part's last byte). */
  blob: Promise<BlobRef>;
}

/**
 * A pass-through in front of mailparser that takes base64 attachment bodies
 * off its hands. See {@link createAttachmentBypass}.
 */
export interface AttachmentBypass extends Transform {
  /** Parts whose bodies were replaced, by part id. */
  readonly parts: ReadonlyMap<string, BypassedPart>;
  /**
   * Set when a replaced body turned out not to be plain base64 after all
   * (mailparser would have decoded it differently): the parse must be redone
   * without the bypass. `null` while every replacement is exact.
   */
  readonly unusable: string | null;
}

/** Leaf types mailparser always treats as attachments, whatever their disposition. */
const ATTACHMENT_TYPE = /^(?:application|image|audio|video|font|model)\/[!#$%&'*+.^_`|~0-9a-z-]+$/;
/** A header block longer than this is left to mailparser (and the rest of the message with it). */
const MAX_HEADER_BLOCK = 64 * 1024;
/** A line starting with "-" longer than this cannot be a boundary (RFC 2046: at most 70 characters). */
const MAX_DASH_LINE = 256;
const LF = 0x0a;
const CR = 0x0d;
const DASH = 0x2d;
const EQUALS = 0x3d;
const NEWLINE_DASH = Buffer.from("\n-", "latin1");
const CRLF = Buffer.from("\r\n", "latin1");

interface Multipart {
  boundary: string;
  path: number[];
  children: number;
}

type Mode = "headers" | "body" | "strip" | "pass";

/**
 * mailparser reads every byte of a message line by line in JavaScript, and
 * most of a typical message's bytes are base64 attachments: splitting and
 * decoding them was over half of its CPU time. This transform follows the
 * MIME structure with `Buffer#indexOf` instead, and for each part that
 * mailparser is certain to treat as an attachment (a non-root, single
 * Content-Type of application, image, audio, video, font or model, and
 * Content-Transfer-Encoding base64) it decodes the body natively into the
 * blob store and hands mailparser a tiny marker body instead. Headers,
 * structure and every other part reach mailparser byte for byte, so names,
 * types, Content-IDs, order, text and HTML stay mailparser's.
 *
 * It is an optimisation that must never change a result: anything it does
 * not fully understand (message/* parts, digests, RFC 2231 boundaries,
 * duplicate Content-Type headers, oversized headers) makes it step aside for
 * the rest of the message, and a replaced body that turns out not to be
 * canonical base64 (characters outside the alphabet, padding in the middle,
 * a length that is not a multiple of four) sets {@link AttachmentBypass.unusable}
 * so the caller parses again without it. The caller checks that mailparser
 * saw each marker at the expected part id (`parts`) for the same reason.
 *
 * @example
 * ```ts
 * const bypass = createAttachmentBypass(blobs);
 * input.pipe(bypass).pipe(new MailParser());
 * // for an attachment with a partId in bypass.parts: its content is the marker, its bytes are in `await part.blob`
 * ```
 */
export function createAttachmentBypass(blobs: BlobStore): AttachmentBypass {
  const nonce = randomBytes(12).toString("hex");
  const parts = new Map<string, BypassedPart>();
  const stack: Multipart[] = [];
  let unusable: string | null = null;
  let mode: Mode = "headers";
  let path: number[] = [];
  let headerBlock = "";
  let atLineStart = true;
  let carry: Buffer | null = null;

  // The part being bypassed.
  let writer: BlobWriter | null = null;
  let settle: { resolve: (ref: BlobRef) => void; reject: (error: unknown) => void } | null = null;
  let padded = false;

  const bypass = new Transform({
    transform(chunk: Buffer, _enc, done) {
      const data = carry === null ? chunk : Buffer.concat([carry, chunk]);
      carry = null;
      scan(data, false).then((rest) => {
        if (rest < data.length) carry = Buffer.from(data.subarray(rest));
        done();
      }, done);
    },
    flush(done) {
      const data = carry ?? Buffer.alloc(0);
      carry = null;
      scan(data, true)
        .then(() => (mode === "strip" ? endPart() : undefined))
        .then(() => done(), done);
    },
  }) as AttachmentBypass;
  Object.defineProperty(bypass, "parts", { get: () => parts });
  Object.defineProperty(bypass, "unusable", { get: () => unusable });
  return bypass;

  /** Consume `data`; returns where an unconsumed tail (a partial line to carry) starts. */
  async function scan(data: Buffer, final: boolean): Promise<number> {
    let pos = 0;
    while (pos < data.length) {
      if (mode === "pass") {
        bypass.push(data.subarray(pos));
        return data.length;
      }
      if (mode === "headers") {
        const nl = data.indexOf(LF, pos);
        if (nl === -1 && !final) {
          if (data.length - pos <= MAX_HEADER_BLOCK) return pos;
          stepAside();
          continue;
        }
        const end = nl === -1 ? data.length : nl + 1;
        bypass.push(data.subarray(pos, end));
        await headerLine(data.toString("latin1", pos, nl === -1 ? end : nl));
        pos = end;
        atLineStart = true;
        continue;
      }
      if (atLineStart && data[pos] === DASH) {
        // A line starting with "-": in a base64 body only a boundary can.
        const nl = data.indexOf(LF, pos);
        if (nl === -1 && !final && data.length - pos <= MAX_DASH_LINE) return pos;
        const end = nl === -1 ? data.length : nl + 1;
        await dashLine(data, pos, end);
        pos = end;
        atLineStart = nl !== -1;
        continue;
      }
      // Body bytes up to the next line that starts with "-".
      const next = data.indexOf(NEWLINE_DASH, pos);
      const end = next === -1 ? data.length : next + 1;
      if (mode !== "strip") bypass.push(data.subarray(pos, end));
      else {
        const used = await decode(data, pos, end, final || next !== -1);
        if (used < end) {
          // A partial base64 quantum: carried into the next chunk.
          if (used > pos) atLineStart = data[used - 1] === LF;
          return used;
        }
      }
      pos = end;
      atLineStart = data[end - 1] === LF;
    }
    return data.length;
  }

  /**
   * Decode `data[start, end)` of a replaced body into its blob; returns how
   * far it got (less than `end` when the last quantum is incomplete and more
   * may follow). Node's decoder skips line breaks, and a decoded length other
   * than the one the character count promises means a character it skipped
   * or stopped at: then the body is not what mailparser would decode alike.
   */
  async function decode(data: Buffer, start: number, end: number, last: boolean): Promise<number> {
    let chars = end - start - count(data, CR, start, end) - count(data, LF, start, end);
    if (chars === 0) return end;
    if (padded) {
      await fail("data after base64 padding");
      return end;
    }
    let cut = end;
    const extra = chars % 4;
    if (extra !== 0) {
      if (last) {
        await fail("a base64 body whose length is not a multiple of four");
        return end;
      }
      for (let left = extra; left > 0; ) {
        const byte = data[--cut];
        if (byte !== CR && byte !== LF) left--;
      }
      chars -= extra;
      if (chars === 0) return cut;
    }
    let pads = 0;
    const eq = data.indexOf(EQUALS, start);
    if (eq !== -1 && eq < cut) {
      pads = count(data, EQUALS, eq, cut);
      if (pads > 2 || pads !== cut - eq - count(data, CR, eq, cut) - count(data, LF, eq, cut)) {
        await fail("base64 padding in the middle of a body");
        return end;
      }
      padded = true;
    }
    const bytes = Buffer.from(data.toString("latin1", start, cut), "base64");
    if (bytes.length !== (chars / 4) * 3 - pads) {
      await fail("a character outside the base64 alphabet");
      return end;
    }
    await writer?.write(bytes);
    return cut;
  }

  async function dashLine(data: Buffer, start: number, end: number): Promise<void> {
    const line = data.toString("latin1", start, end).replace(/\r?\n$/, "");
    const found = matchBoundary(line);
    if (found === null) {
      if (mode === "strip") return fail("a line starting with '-' in a base64 body");
      bypass.push(data.subarray(start, end));
      return;
    }
    if (mode === "strip") {
      await endPart();
      bypass.push(CRLF);
    }
    bypass.push(data.subarray(start, end));
    const owner = stack[found.level];
    if (found.closing) {
      if (owner.children === 0) return stepAside(); // mailparser ignores a close in the preamble
      stack.length = found.level;
      mode = stack.length === 0 ? "pass" : "body";
      return;
    }
    stack.length = found.level + 1;
    owner.children++;
    path = [...owner.path, owner.children];
    headerBlock = "";
    mode = "headers";
  }

  function matchBoundary(line: string): { level: number; closing: boolean } | null {
    if (!line.startsWith("--")) return null;
    for (let level = stack.length - 1; level >= 0; level--) {
      const { boundary } = stack[level];
      if (!line.startsWith(boundary, 2)) continue;
      const tail = line.slice(2 + boundary.length);
      if (/^[ \t]*$/.test(tail)) return { level, closing: false };
      if (/^--[ \t]*$/.test(tail)) return { level, closing: true };
    }
    return null;
  }

  async function headerLine(line: string): Promise<void> {
    const clean = line.endsWith("\r") ? line.slice(0, -1) : line;
    if (clean === "") return endHeaders();
    if (matchBoundary(clean) !== null) return stepAside(); // a part with no body: leave it to mailparser
    headerBlock += `${clean}\n`;
    if (headerBlock.length > MAX_HEADER_BLOCK) stepAside();
  }

  async function endHeaders(): Promise<void> {
    const fields = headerBlock.replace(/\n[ \t]+/g, " ").split("\n");
    headerBlock = "";
    const types = fields.filter((f) => /^content-type\s*:/i.test(f));
    const encodings = fields.filter((f) => /^content-transfer-encoding\s*:/i.test(f));
    if (types.length > 1 || encodings.length > 1) return stepAside();
    const value = types.length === 1 ? types[0].slice(types[0].indexOf(":") + 1) : "";
    const type = value.split(";")[0].trim().toLowerCase();
    if (type.startsWith("multipart/")) {
      const param = /;\s*boundary\s*=\s*(?:"([^"\\]+)"|([^\s;"]+))\s*(?:;|$)/i.exec(value);
      if (type === "multipart/digest" || param === null || /boundary\*/i.test(value)) return stepAside();
      stack.push({ boundary: param[1] ?? param[2], path, children: 0 });
      mode = "body";
      return;
    }
    if (type.startsWith("message/") || stack.length === 0) return stepAside();
    const encoding = encodings.length === 1 ? encodings[0].slice(encodings[0].indexOf(":") + 1).trim().toLowerCase() : "";
    if (encoding !== "base64" || !ATTACHMENT_TYPE.test(type)) {
      mode = "body";
      return;
    }
    await startPart();
  }

  async function startPart(): Promise<void> {
    const partId = path.join(".");
    const marker = Buffer.from(`inbound bypass ${nonce} ${partId}`, "latin1");
    const blob = new Promise<BlobRef>((resolve, reject) => {
      settle = { resolve, reject };
    });
    blob.catch(() => {}); // read by the caller, or superseded by `unusable`
    parts.set(partId, { partId, marker, blob });
    bypass.push(Buffer.from(marker.toString("base64"), "latin1"));
    padded = false;
    mode = "strip";
    try {
      writer = await blobs.createWriter();
    } catch (error) {
      settle?.reject(error);
      settle = null;
      throw error;
    }
  }

  async function endPart(): Promise<void> {
    const done = writer;
    const result = settle;
    writer = null;
    settle = null;
    mode = "body";
    try {
      result?.resolve(await (done as BlobWriter).finish());
    } catch (error) {
      result?.reject(error);
      throw error;
    }
  }

  /** The replaced body was not what it looked like: the result cannot be used. */
  async function fail(reason: string): Promise<void> {
    unusable ??= reason;
    const dropped = writer;
    writer = null;
    settle?.reject(new Error(reason));
    settle = null;
    mode = "pass";
    await dropped?.abort();
  }

  /** Something this bypass does not model: mailparser gets the rest untouched. */
  function stepAside(): void {
    if (mode === "strip") throw new Error("cannot step aside inside a replaced body");
    mode = "pass";
    headerBlock = "";
  }
}

/** How many times `byte` occurs in `data[start, end)`. */
function count(data: Buffer, byte: number, start: number, end: number): number {
  let n = 0;
  for (let at = data.indexOf(byte, start); at !== -1 && at < end; at = data.indexOf(byte, at + 1)) n++;
  return n;
}
