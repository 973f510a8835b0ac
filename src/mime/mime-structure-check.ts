import { Transform } from "node:stream";

/** What the raw bytes showed, for faults mailparser tolerates silently. */
export interface MimeStructureReport {
  /** Something other than whitespace and boundary lines follows the top-level headers. */
  hasBody: boolean;
  /** A part declared base64 holds characters base64 does not use. */
  badBase64: boolean;
}

/** A pass-through that watches the raw message. Call `report()` once the stream has ended. */
export interface MimeStructureCheck extends Transform {
  report(): MimeStructureReport;
}

// Lines longer than this are inspected in pieces; memory stays bounded on a
// 50 MB single-line base64 body.
const MAX_CARRY = 8192;
const MAX_HEADER_BLOCK = 256 * 1024;
const NON_BASE64 = /[^A-Za-z0-9+/=\s]/;

/**
 * mailparser decodes what it can and never complains about a base64 body
 * full of junk, so this scans the raw lines beside it: it learns each
 * multipart boundary from Content-Type headers, tracks each part's
 * Content-Transfer-Encoding, and checks base64 bodies' alphabet.
 *
 * @example
 * ```ts
 * const check = createMimeStructureCheck();
 * source.pipe(check).pipe(parser);
 * // after end: check.report() → { hasBody: true, badBase64: false }
 * ```
 */
export function createMimeStructureCheck(): MimeStructureCheck {
  const boundaries = new Set<string>();
  let inHeaders = true;
  let headerBlock = "";
  let base64 = false;
  let carry = "";
  let carryIsLineStart = true;
  let hasBody = false;
  let badBase64 = false;

  function endHeaders(): void {
    const unfolded = headerBlock.replace(/\r?\n[ \t]+/g, " ");
    base64 = /^content-transfer-encoding:\s*base64\s*$/im.test(unfolded);
    const type = /^content-type:(.*)$/im.exec(unfolded);
    if (type && /^\s*multipart\//i.test(type[1])) {
      const b = /boundary\s*=\s*(?:"([^"]+)"|([^\s;]+))/i.exec(type[1]);
      const value = b?.[1] ?? b?.[2];
      if (value) boundaries.add(value);
    }
    headerBlock = "";
    inHeaders = false;
  }

  function bodyText(text: string, lineStart: boolean): void {
    if (lineStart && text.startsWith("--")) {
      const rest = text.slice(2).trimEnd();
      for (const b of boundaries) {
        if (rest === b) { inHeaders = true; base64 = false; return; }
        if (rest === `${b}--`) { base64 = false; return; }
      }
    }
    if (!hasBody && text.trim() !== "") hasBody = true;
    if (base64 && !badBase64 && NON_BASE64.test(text)) badBase64 = true;
  }

  function line(text: string, lineStart: boolean): void {
    const clean = text.endsWith("\r") ? text.slice(0, -1) : text;
    if (inHeaders) {
      if (lineStart && clean === "") endHeaders();
      else if (headerBlock.length < MAX_HEADER_BLOCK) headerBlock += `${clean}\n`;
      return;
    }
    bodyText(clean, lineStart);
  }

  const check = new Transform({
    transform(chunk: Buffer, _enc, done) {
      const text = carry + chunk.toString("latin1");
      let start = 0;
      let nl: number;
      while ((nl = text.indexOf("\n", start)) !== -1) {
        line(text.slice(start, nl), start === 0 ? carryIsLineStart : true);
        start = nl + 1;
      }
      carry = text.slice(start);
      if (start > 0) carryIsLineStart = true;
      if (carry.length > MAX_CARRY) {
        if (!inHeaders) bodyText(carry, carryIsLineStart);
        carry = "";
        carryIsLineStart = false;
      }
      done(null, chunk);
    },
    flush(done) {
      if (carry !== "") line(carry, carryIsLineStart);
      carry = "";
      done();
    },
  }) as MimeStructureCheck;
  check.report = () => ({ hasBody, badBase64 });
  return check;
}
