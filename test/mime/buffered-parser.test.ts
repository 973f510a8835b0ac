import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import iconv from "iconv-lite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateCorpus } from "../../bench/corpus.js";
import { isInboundError } from "../../src/core/inbound-error.js";
import { parseBuffered } from "../../src/mime/buffered-parser.js";
import { parseBytes, parseMessage, readMessageFile, type ParsedMessage } from "../../src/mime/parse-message.js";
import { PIXEL_PNG, base64Lines, comparable, comparisonOptions, crlf, encodedWord, tempDir, withLf, writeMessage } from "./message-fixtures.js";

const PDF = randomBytes(3000);
const BIG = randomBytes(200_000);
/** BIG's base64 lines with a stray CR in place of one character of line 1500 (past the first decoded slice). */
const strayCr = (): string[] => {
  const lines = base64Lines(BIG);
  lines[1500] = lines[1500].slice(0, 30) + "\r" + lines[1500].slice(31);
  return lines;
};

const mixed = (...parts: Array<Array<string | Buffer>>): Buffer =>
  crlf(
    "From: =?utf-8?Q?Ren=C3=A9e?= <renee@example.com>",
    "To: a@example.com, Team: b@example.com, c@example.com;",
    "To: d@example.com",
    "Subject: " + encodedWord("koi8-r", iconv.encode("Отчёт", "koi8-r")),
    "Message-ID: no-brackets@example.com",
    "Date: Tue, 3 Sep 2024 10:00:00 +0200",
    'Content-Type: multipart/mixed; boundary="b1"',
    "",
    "preamble",
    ...parts.flatMap((part) => ["--b1", ...part]),
    "--b1--",
    "epilogue",
  );

/** Messages the buffered reader reads itself; each must come out as mailparser's. */
const READ_HERE: Record<string, Buffer> = {
  "text only, no Content-Type": crlf("From: a@example.com", "Subject: plain", "", "line one", "line two", ""),
  "html only at the top (text from html-to-text)": crlf("From: a@example.com", "Content-Type: text/html; charset=utf-8", "", "<h1>Title</h1><p>Para <b>bold</b> &amp; more</p><ul><li>x</li></ul>"),
  "alternative with quoted-printable and base64": mixed([
    'Content-Type: multipart/alternative; boundary="alt"',
    "",
    "--alt",
    "Content-Type: text/plain; charset=iso-8859-1",
    "Content-Transfer-Encoding: quoted-printable",
    "",
    "Gr=FC=DFe aus M=FCnchen, soft=",
    "break and trailing space   ",
    "=3D sign",
    "--alt",
    "Content-Type: text/html; charset=windows-1252",
    "Content-Transfer-Encoding: base64",
    "",
    ...base64Lines(iconv.encode("<p>“quoted” – €5</p>", "windows-1252")),
    "--alt--",
  ]),
  "attachments: RFC 2231 name, octet-stream by extension, inline image in related": mixed(
    ['Content-Type: multipart/related; boundary="rel"', "", "--rel", "Content-Type: text/html", "", '<p><img src="cid:px@x"></p>', "--rel", "Content-Type: image/png", "Content-Transfer-Encoding: base64", "Content-ID: <px@x>", "", ...base64Lines(PIXEL_PNG), "--rel--"],
    ["Content-Type: application/octet-stream", "Content-Transfer-Encoding: base64", "Content-Disposition: attachment; filename*=utf-8''%D0%BE%D1%82%D1%87%D1%91%D1%82.pdf", "", ...base64Lines(PDF)],
    ['Content-Type: application/pdf; name="=?utf-8?B?w7xiZXIucGRm?="', "Content-Transfer-Encoding: base64", "", ...base64Lines(PDF)],
  ),
  "an HTML part as an attachment, and an empty text part": mixed(
    ["Content-Type: text/plain", "", ""],
    ["Content-Type: text/html", 'Content-Disposition: attachment; filename="page.html"', "", "<p>attached page</p>"],
  ),
  "a large base64 attachment, regular lines (decoded in slices)": mixed(["Content-Type: application/zip", "Content-Transfer-Encoding: base64", "", ...base64Lines(BIG)]),
  "a large base64 attachment with one short line": mixed(["Content-Type: application/zip", "Content-Transfer-Encoding: base64", "", ...base64Lines(BIG).flatMap((line, i) => (i === 700 ? [line.slice(0, 40), line.slice(40)] : [line]))]),
  "a large base64 attachment with a stray CR inside a line": mixed(["Content-Type: application/zip", "Content-Transfer-Encoding: base64", "", ...strayCr()]),
  "iso-2022-jp body, koi8-r 8bit body": mixed(
    ["Content-Type: text/plain; charset=iso-2022-jp", "Content-Transfer-Encoding: 7bit", "", Buffer.from("\x1b$B$3$s$K$A$O\x1b(B", "latin1") /* こんにちは */],
    ["Content-Type: text/plain; charset=koi8-r", "Content-Transfer-Encoding: 8bit", "", iconv.encode("привет", "koi8-r")],
  ),
  "delimiters with trailing whitespace, a part with no headers": crlf("From: a@example.com", 'Content-Type: multipart/mixed; boundary="b"', "", "--b \t", "Content-Type: text/plain", "", "first", "--b", "", "second, default type", "--b--  "),
};
for (const [name, raw] of Object.entries({ ...READ_HERE })) READ_HERE[`${name} (LF line ends)`] = withLf(raw);

/** Messages it leaves to mailparser: parseBytes must still give mailparser's result. */
const LEFT_TO_MAILPARSER: Record<string, Buffer> = {
  "format=flowed": crlf("From: a@example.com", "Content-Type: text/plain; format=flowed", "", "soft ", "wrapped"),
  "a forwarded message": mixed(["Content-Type: message/rfc822", "Content-Disposition: inline", "", "From: b@example.com", "Subject: inner", "", "inner body"]),
  "no closing delimiter": mixed(["Content-Type: text/plain", "", "body"]).subarray(0, -("--b1--\r\nepilogue".length)),
  "boundary text inside a line": mixed(["Content-Type: text/plain", "", "see x--b1 here"]),
  "a boundary look-alike line": mixed(["Content-Type: text/plain", "", "--b1x not a delimiter"]),
  "junk in base64": mixed(["Content-Type: application/pdf", "Content-Transfer-Encoding: base64", "", "QUJD!EVG"]),
  "padding in the middle of base64": mixed(["Content-Type: application/pdf", "Content-Transfer-Encoding: base64", "", "QQ==", "QUJD"]),
  "text beside HTML in multipart/mixed": mixed(["Content-Type: text/html", "", "<p>html</p>"], ["Content-Type: text/plain", "", "see https://example.com"]),
  "a closing delimiter in the preamble": crlf("From: a@example.com", 'Content-Type: multipart/mixed; boundary="b"', "", "--b--", "--b", "Content-Type: text/plain", "", "body", "--b--"),
  "no header block": Buffer.from("just some text without a blank line", "latin1"),
  "an mbox From line": crlf("From someone Tue Sep  3 10:00:00 2024", "From: a@example.com", "", "body"),
  "a multipart with no parts": crlf("From: a@example.com", 'Content-Type: multipart/mixed; boundary="never"', "", "text without any delimiter"),
};

describe("parseBuffered", () => {
  let dir: string;
  let remove: () => Promise<void>;
  beforeAll(async () => ({ dir, remove } = await tempDir("buffered")));
  afterAll(async () => remove());
  const opts = () => comparisonOptions(dir);
  const byMailparser = (raw: Buffer) => parseMessage(Readable.from([raw]), opts());

  it("reads every benchmark corpus message itself, each exactly as mailparser does", async () => {
    let attachments = 0;
    for (const raw of generateCorpus(60, 11)) {
      const buffered = await parseBuffered(raw, opts());
      expect(buffered).not.toBeNull();
      expect(comparable(buffered as ParsedMessage)).toEqual(comparable(await byMailparser(raw)));
      attachments += (buffered as ParsedMessage).attachments.length;
    }
    expect(attachments).toBeGreaterThan(10);
  });

  it.each(Object.entries(READ_HERE))("reads %s exactly as mailparser does", async (_name, raw) => {
    const buffered = await parseBuffered(raw, opts());
    expect(buffered).not.toBeNull();
    expect(comparable(buffered as ParsedMessage)).toEqual(comparable(await byMailparser(raw)));
  });

  it("decodes the fixtures' charsets, names and bodies (not just whatever both readers agree on)", async () => {
    const parsed = (await parseBuffered(READ_HERE["attachments: RFC 2231 name, octet-stream by extension, inline image in related"], opts())) as ParsedMessage;
    expect(parsed.from).toEqual([{ name: "Renée", address: "renee@example.com" }]);
    expect(parsed.to.map((a) => a.address)).toEqual(["a@example.com", "b@example.com", "c@example.com", "d@example.com"]);
    expect(parsed.subject).toBe("Отчёт");
    expect(parsed.messageId).toBe("<no-brackets@example.com>");
    expect(parsed.attachments.map((a) => [a.filename, a.contentType, a.disposition, a.contentId, a.size])).toEqual([
      [null, "image/png", "inline", "px@x", PIXEL_PNG.length],
      ["отчёт.pdf", "application/pdf", "attachment", null, PDF.length],
      ["über.pdf", "application/pdf", "attachment", null, PDF.length],
    ]);
    expect(parsed.sanitizedHtml).toContain(`/blob/${parsed.attachments[0].sha256}`);
    const alt = (await parseBuffered(READ_HERE["alternative with quoted-printable and base64"], opts())) as ParsedMessage;
    expect(alt.text).toBe("Grüße aus München, softbreak and trailing space\n= sign");
    expect(alt.html).toBe("<p>“quoted” – €5</p>");
    const big = (await parseBuffered(READ_HERE["a large base64 attachment, regular lines (decoded in slices)"], opts())) as ParsedMessage;
    expect(big.attachments[0].sha256).toBe(createHash("sha256").update(BIG).digest("hex"));
    const japanese = (await parseBuffered(READ_HERE["iso-2022-jp body, koi8-r 8bit body"], opts())) as ParsedMessage;
    expect(japanese.text).toBe("こんにちは\nпривет");
  });

  it.each(Object.entries(LEFT_TO_MAILPARSER))("leaves %s to mailparser, and parseBytes gives mailparser's result", async (_name, raw) => {
    expect(await parseBuffered(raw, opts())).toBeNull();
    expect(comparable(await parseBytes(raw, opts()))).toEqual(comparable(await byMailparser(raw)));
  });

  it("reads a stored message's range, and names a file that ends before the range does", async () => {
    const raw = READ_HERE["text only, no Content-Type"];
    const path = await writeMessage(dir, "segment", Buffer.concat([Buffer.from("other message"), raw]));
    expect(await readMessageFile(path, { start: 13, size: raw.length })).toEqual(raw);
    const error = await readMessageFile(path, { start: 13, size: raw.length + 50 }).catch((e: unknown) => e);
    expect(isInboundError(error) && error.code).toBe("STORE_FAILED");
    expect((error as Error).message).toMatch(/ends 50 bytes before the stored message does/);
  });
});
