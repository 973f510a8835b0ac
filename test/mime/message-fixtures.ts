import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ParseOptions, ParsedMessage } from "../../src/mime/parse-message.js";

/** Join header and body lines with CRLF, the way messages travel. Strings are latin1 so each char is one byte. */
export function crlf(...lines: Array<string | Buffer>): Buffer {
  const parts: Buffer[] = [];
  lines.forEach((line, i) => {
    parts.push(typeof line === "string" ? Buffer.from(line, "latin1") : line);
    if (i < lines.length - 1) parts.push(Buffer.from("\r\n"));
  });
  return Buffer.concat(parts);
}

/** RFC 2047 B-encoded word over already-encoded bytes. */
export function encodedWord(charset: string, bytes: Buffer): string {
  return `=?${charset}?B?${bytes.toString("base64")}?=`;
}

/** Base64 body lines of 76 characters. */
export function base64Lines(bytes: Buffer): string[] {
  return bytes.toString("base64").match(/.{1,76}/g) ?? [];
}

/** A fresh temporary directory and a function that removes it. */
export async function tempDir(prefix: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `inbound-${prefix}-`));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * Parse options for comparing readers: blobs under `<dir>/blobs`, sanitized,
 * inline images rewritten to a URL that depends only on the content (the
 * attachment ids differ from parse to parse).
 */
export function comparisonOptions(dir: string): ParseOptions {
  return { blobDir: join(dir, "blobs"), sanitize: true, inlineImages: true, inlineImageUrl: (att) => `/blob/${att.sha256}` };
}

/** Write a message to `<dir>/<name>.eml` and return its path. */
export async function writeMessage(dir: string, name: string, bytes: Buffer): Promise<string> {
  const path = join(dir, `${name}.eml`);
  await writeFile(path, bytes);
  return path;
}

/** A 1×1 transparent PNG. */
export const PIXEL_PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==", "base64");

/** What a parse gives, without the random attachment ids: two parses of the same bytes compare equal. */
export function comparable(parsed: ParsedMessage): unknown {
  return { ...parsed, attachments: parsed.attachments.map(({ id: _id, ...rest }) => rest) };
}

/** The same message with LF line ends. */
export function withLf(raw: Buffer): Buffer {
  return Buffer.from(raw.toString("latin1").replace(/\r\n/g, "\n"), "latin1");
}
