import { createHash, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateCorpus } from "../../bench/corpus.js";
import { createAttachmentBypass } from "../../src/mime/attachment-bypass.js";
import { parseMessage, type ParsedMessage } from "../../src/mime/parse-message.js";
import { createBlobStore } from "../../src/store/blob-store.js";
import { PIXEL_PNG, base64Lines, comparable, comparisonOptions, crlf, tempDir, withLf, writeMessage } from "./message-fixtures.js";

const sha256 = (bytes: Buffer): string => createHash("sha256").update(bytes).digest("hex");
const PDF = randomBytes(5000);

/** A message with text, HTML, an inline image and a PDF, nested three deep; `pdfBody` replaces the PDF's base64 lines. */
function nested(pdfBody: string[] = base64Lines(PDF)): Buffer {
  return crlf(
    "From: Ann <ann@example.com>",
    "Subject: nested",
    'Content-Type: multipart/mixed; boundary="outer"',
    "",
    "preamble",
    "--outer",
    'Content-Type: multipart/related; boundary="rel"',
    "",
    "--rel",
    'Content-Type: multipart/alternative; boundary="alt"',
    "",
    "--alt",
    "Content-Type: text/plain; charset=utf-8",
    "",
    "plain body",
    "--alt",
    "Content-Type: text/html; charset=utf-8",
    "",
    '<p>html <img src="cid:px@x"></p>',
    "--alt--",
    "--rel",
    "Content-Type: image/png",
    "Content-Transfer-Encoding: base64",
    "Content-ID: <px@x>",
    "",
    ...base64Lines(PIXEL_PNG),
    "--rel--",
    "--outer  ",
    "Content-Type: application/pdf; name=\"r.pdf\"",
    "Content-Transfer-Encoding: BASE64",
    'Content-Disposition: attachment; filename="r.pdf"',
    "",
    ...pdfBody,
    "--outer--",
    "epilogue",
  );
}

/** Run the bypass alone over `raw` in chunks of `chunk` bytes. */
async function bypassOnly(raw: Buffer, blobDir: string, chunk = 64 * 1024) {
  const bypass = createAttachmentBypass(createBlobStore(blobDir));
  const out: Buffer[] = [];
  const pieces = Array.from({ length: Math.ceil(raw.length / chunk) }, (_, i) => raw.subarray(i * chunk, (i + 1) * chunk));
  await pipeline(Readable.from(pieces), bypass, new Writable({ write: (c: Buffer, _e, done) => { out.push(c); done(); } }));
  const settled = await Promise.allSettled([...bypass.parts.values()].map(async (p) => ({ partId: p.partId, ...(await p.blob) })));
  const blobs = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  return { output: Buffer.concat(out), blobs, unusable: bypass.unusable };
}

describe("attachment bypass", () => {
  let dir: string;
  let remove: () => Promise<void>;
  beforeAll(async () => ({ dir, remove } = await tempDir("bypass")));
  afterAll(async () => remove());
  const opts = () => comparisonOptions(dir);
  /** The parse with the bypass (a file) must equal mailparser's own (a stream skips the bypass). */
  async function expectSameAsMailparser(name: string, raw: Buffer): Promise<ParsedMessage> {
    const withBypass = await parseMessage(await writeMessage(dir, name, raw), opts());
    const without = await parseMessage(Readable.from([raw]), opts());
    expect(comparable(withBypass)).toEqual(comparable(without));
    return withBypass;
  }

  it("decodes base64 attachments into the blob store and hands mailparser only a marker", async () => {
    for (const chunk of [1, 7, 77, 4096, 1 << 20]) {
      const { output, blobs, unusable } = await bypassOnly(nested(), join(dir, "blobs"), chunk);
      expect(unusable).toBeNull();
      expect(blobs).toEqual([
        { partId: "1.2", sha256: sha256(PIXEL_PNG), size: PIXEL_PNG.length },
        { partId: "2", sha256: sha256(PDF), size: PDF.length },
      ]);
      expect(output.length).toBeLessThan(nested().length - 6000);
      expect(output.toString("latin1")).toContain("plain body");
      expect(await readFile(createBlobStore(join(dir, "blobs")).path(sha256(PDF)))).toEqual(PDF);
    }
  });

  it("gives the same result as mailparser alone for nested parts, inline images and LF line ends", async () => {
    const parsed = await expectSameAsMailparser("nested", nested());
    expect(parsed.attachments.map((a) => [a.contentType, a.disposition, a.contentId, a.size])).toEqual([
      ["image/png", "inline", "px@x", PIXEL_PNG.length],
      ["application/pdf", "attachment", null, PDF.length],
    ]);
    expect(parsed.sanitizedHtml).toContain(`/blob/${sha256(PIXEL_PNG)}`);
    await expectSameAsMailparser("lf", withLf(nested()));
  });

  it("gives the same result as mailparser alone on generated corpus messages", async () => {
    let bypassed = 0;
    for (const [i, raw] of [...generateCorpus(40, 7)].entries()) {
      await expectSameAsMailparser(`corpus-${i}`, raw);
      bypassed += (await bypassOnly(raw, join(dir, "blobs"))).blobs.length;
    }
    expect(bypassed).toBeGreaterThan(5);
  });

  it("falls back to mailparser for base64 it cannot reproduce exactly", async () => {
    const lines = base64Lines(PDF);
    const variants: Record<string, string[]> = {
      "junk character": [lines[0].slice(0, 10) + "!" + lines[0].slice(11), ...lines.slice(1)],
      "space inside": [lines[0].slice(0, 10) + " " + lines[0].slice(10), ...lines.slice(1)],
      "missing padding": [...lines.slice(0, -1), lines[lines.length - 1].replace(/=+$/, "")],
      "padding in the middle": [Buffer.from("ab").toString("base64"), ...lines],
      "dash line inside": [lines[0], "-not-a-boundary", ...lines.slice(1)],
    };
    for (const [name, body] of Object.entries(variants)) {
      const raw = nested(body);
      expect((await bypassOnly(raw, join(dir, "blobs"))).unusable, name).not.toBeNull();
      await expectSameAsMailparser(name.replace(/ /g, "-"), raw);
    }
  });

  it("steps aside for a forwarded message and for duplicate Content-Type headers, and mailparser still sees every byte", async () => {
    const forwarded = crlf(
      "From: a@example.com",
      'Content-Type: multipart/mixed; boundary="m"',
      "",
      "--m",
      "Content-Type: text/plain",
      "",
      "see below",
      "--m",
      "Content-Type: message/rfc822",
      "Content-Disposition: inline",
      "",
      "From: b@example.com",
      "Subject: inner",
      'Content-Type: multipart/mixed; boundary="i"',
      "",
      "--i",
      "Content-Type: application/pdf",
      "Content-Transfer-Encoding: base64",
      "",
      ...base64Lines(PDF),
      "--i--",
      "--m--",
    );
    const result = await bypassOnly(forwarded, join(dir, "blobs"));
    expect(result.blobs).toEqual([]);
    expect(result.output).toEqual(forwarded);
    await expectSameAsMailparser("forwarded", forwarded);

    const twoTypes = Buffer.from(nested().toString("latin1").replace("Content-Type: application/pdf;", "Content-Type: text/plain\r\nContent-Type: application/pdf;"), "latin1");
    expect((await bypassOnly(twoTypes, join(dir, "blobs"))).blobs.map((b) => b.partId)).toEqual(["1.2"]);
    await expectSameAsMailparser("two-content-types", twoTypes);
  });
});
