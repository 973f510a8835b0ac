import { createHash } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isInboundError } from "../../src/core/inbound-error.js";
import { BAD_BASE64_ERROR, NO_HEADERS_ERROR, NO_PARTS_ERROR, parseMessage } from "../../src/mime/parse-message.js";
import { PIXEL_PNG, base64Lines, crlf, tempDir, writeMessage } from "./message-fixtures.js";
import { attachmentDisposition } from "../../src/server/content-disposition.js";

const sha256 = (bytes: Buffer): string => createHash("sha256").update(bytes).digest("hex");

describe("parseMessage", () => {
  let dir: string;
  let remove: () => Promise<void>;
  beforeAll(async () => ({ dir, remove } = await tempDir("parse")));
  afterAll(async () => remove());
  const opts = () => ({ blobDir: join(dir, "blobs"), sanitize: true, inlineImages: false });

  it("removes Unicode direction controls from attachment names, so the real extension shows", async () => {
    const raw = crlf(
      "From: a@example.com",
      "Subject: invoice",
      'Content-Type: multipart/mixed; boundary="b1"',
      "",
      "--b1",
      "Content-Type: text/plain",
      "",
      "see attached",
      "--b1",
      "Content-Type: application/octet-stream",
      // "invoice<RLO>fdp.exe": shown as "invoiceexe.pdf" where the override is honoured.
      "Content-Disposition: attachment; filename*=UTF-8''invoice%E2%80%AEfdp.exe",
      "",
      "MZ",
      "--b1--",
      "",
    );
    const parsed = await parseMessage(Readable.from([raw]), opts());
    expect(parsed.attachments.map((a) => a.filename)).toEqual(["invoicefdp.exe"]);
    expect(attachmentDisposition("invoice\u202Efdp.exe")).toBe("attachment; filename=\"invoicefdp.exe\"; filename*=UTF-8''invoicefdp.exe");
  });

  it("decodes RFC 2231 filenames, plain and split into continuations", async () => {
    const raw = crlf(
      "From: a@example.com",
      "Subject: files",
      'Content-Type: multipart/mixed; boundary="b1"',
      "",
      "--b1",
      "Content-Type: text/plain",
      "",
      "see files",
      "--b1",
      "Content-Type: application/pdf",
      "Content-Disposition: attachment; filename*=UTF-8''%E2%82%AC%20rates.pdf",
      "",
      "pdf-1",
      "--b1",
      "Content-Type: application/octet-stream",
      "Content-Disposition: attachment;",
      " filename*0*=UTF-8''%C3%9Cbersicht%20der%20;",
      " filename*1*=Quartalszahlen%20%E2%80%94%20;",
      " filename*2=\"final.xlsx\"",
      "",
      "xlsx-2",
      "--b1",
      "Content-Type: application/pdf; name=\"=?UTF-8?B?0J7RgtGH0ZHRgiDihJYxLnBkZg==?=\"",
      'Content-Disposition: attachment; filename="=?ISO-8859-1?Q?R=E9sum=E9_2024=2Epdf?="',
      "",
      "pdf-3",
      "--b1--",
      "",
    );
    const parsed = await parseMessage(await writeMessage(dir, "filenames", raw), opts());
    expect(parsed.parseError).toBeNull();
    expect(parsed.attachments.map((a) => a.filename)).toEqual([
      "€ rates.pdf",
      "Übersicht der Quartalszahlen — final.xlsx",
      "Résumé 2024.pdf",
    ]);
    expect(parsed.attachments.map((a) => a.position)).toEqual([0, 1, 2]);
    expect(parsed.attachments[1].contentType).toBe("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
  });

  it("keeps all 300 recipients of a To header, and flattens groups", async () => {
    const rcpts = Array.from({ length: 300 }, (_, i) => `"Person ${i}" <person${i}@example.org>`);
    const raw = crlf(
      "From: Sender <s@example.com>",
      `To: ${rcpts.join(",\r\n ")}`,
      "Cc: Team: alice@example.com, \"Bob B.\" <bob@example.com>;, carol@example.com",
      "Bcc: undisclosed-recipients:;",
      "Reply-To: replies@example.com",
      "Subject: many",
      "",
      "hi",
    );
    const parsed = await parseMessage(Readable.from([raw]), opts());
    expect(parsed.to).toHaveLength(300);
    expect(parsed.to[0]).toEqual({ name: "Person 0", address: "person0@example.org" });
    expect(parsed.to[299]).toEqual({ name: "Person 299", address: "person299@example.org" });
    expect(parsed.cc).toEqual([
      { name: "", address: "alice@example.com" },
      { name: "Bob B.", address: "bob@example.com" },
      { name: "", address: "carol@example.com" },
    ]);
    expect(parsed.bcc).toEqual([]);
    expect(parsed.replyTo).toEqual([{ name: "", address: "replies@example.com" }]);
    expect(parsed.from).toEqual([{ name: "Sender", address: "s@example.com" }]);
  });

  it("keeps every header line in order, repeated Received headers included", async () => {
    const raw = crlf(
      "Received: from c.example by d.example; Mon, 1 Jan 2024 10:00:03 +0000",
      "Received: from b.example by c.example;",
      "\tMon, 1 Jan 2024 10:00:02 +0000",
      "X-Spam: no",
      "Received: from a.example by b.example; Mon, 1 Jan 2024 10:00:01 +0000",
      "Message-ID: <abc@example.com>",
      "Date: Mon, 1 Jan 2024 09:59:00 +0100",
      "From: a@example.com",
      "Subject: hops",
      "",
      "body",
    );
    const parsed = await parseMessage(Readable.from([raw]), opts());
    expect(parsed.headers.map((h) => h.key)).toEqual(["received", "received", "x-spam", "received", "message-id", "date", "from", "subject"]);
    expect(parsed.headers[1].line).toBe("Received: from b.example by c.example;\r\n\tMon, 1 Jan 2024 10:00:02 +0000");
    expect(parsed.headers[3].line).toContain("from a.example");
    expect(parsed.messageId).toBe("<abc@example.com>");
    expect(parsed.date?.toISOString()).toBe("2024-01-01T08:59:00.000Z");
    expect(parsed.text).toBe("body");
  });

  it("gives a null date when the Date header is missing or unreadable", async () => {
    const missing = await parseMessage(Readable.from([crlf("From: a@example.com", "", "x")]), opts());
    const bad = await parseMessage(Readable.from([crlf("From: a@example.com", "Date: next tuesday-ish", "", "x")]), opts());
    expect(missing.date).toBeNull();
    expect(bad.date).toBeNull();
  });

  function relatedMessage(): Buffer {
    return crlf(
      "From: news@example.com",
      "Subject: inline",
      'Content-Type: multipart/related; boundary="rel"',
      "",
      "--rel",
      "Content-Type: text/html; charset=utf-8",
      "",
      '<table><tr><td style="background:url(cid:bg@x)"><img src="cid:logo@example.com" alt="logo"><img src="cid:unknown@x"></td></tr></table>',
      "--rel",
      "Content-Type: image/png",
      "Content-Transfer-Encoding: base64",
      "Content-ID: <logo@example.com>",
      "",
      ...base64Lines(PIXEL_PNG),
      "--rel",
      "Content-Type: image/png",
      "Content-Transfer-Encoding: base64",
      "Content-ID: <bg@x>",
      "Content-Disposition: inline",
      "",
      ...base64Lines(Buffer.concat([PIXEL_PNG, Buffer.from("bg")])),
      "--rel--",
      "",
    );
  }

  it("rewrites cid: references to attachment URLs when inlineImages is on", async () => {
    const path = await writeMessage(dir, "related", relatedMessage());
    const parsed = await parseMessage(path, { ...opts(), inlineImages: true });
    const [logo, bg] = parsed.attachments;
    expect(logo.contentId).toBe("logo@example.com");
    expect(logo.disposition).toBe("inline");
    expect(bg.disposition).toBe("inline");
    expect(parsed.sanitizedHtml).toContain(`<img src="/api/v1/attachments/${logo.id}/content" alt="logo" />`);
    expect(parsed.sanitizedHtml).toContain(`url(/api/v1/attachments/${bg.id}/content)`);
    expect(parsed.sanitizedHtml).toContain('src="cid:unknown@x"');
    // The message's own HTML stays as sent.
    expect(parsed.html).toContain('src="cid:logo@example.com"');

    const custom = await parseMessage(path, { ...opts(), inlineImages: true, inlineImageUrl: (a) => `https://cdn.test/${a.sha256}?cid=${a.contentId}&x=1` });
    expect(custom.sanitizedHtml).toContain(`src="https://cdn.test/${sha256(PIXEL_PNG)}?cid=logo@example.com&amp;x=1"`);

    const unsanitized = await parseMessage(path, { ...opts(), sanitize: false, inlineImages: true });
    expect(unsanitized.sanitizedHtml).toBeNull();
    expect(unsanitized.html).toContain(`src="/api/v1/attachments/${unsanitized.attachments[0].id}/content"`);
  });

  it("leaves cid: references alone when inlineImages is off", async () => {
    const parsed = await parseMessage(Readable.from([relatedMessage()]), opts());
    expect(parsed.sanitizedHtml).toContain('<img src="cid:logo@example.com" alt="logo" />');
    expect(parsed.sanitizedHtml).not.toContain("/api/v1/attachments/");
  });

  it("stores each attachment's decoded bytes as a blob named by their sha256", async () => {
    const pdf = Buffer.concat([Buffer.from("%PDF-1.4\n"), Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 256))]);
    const raw = crlf(
      "From: a@example.com",
      'Content-Type: multipart/mixed; boundary="m"',
      "",
      "--m",
      "Content-Type: text/plain",
      "",
      "attached",
      "--m",
      'Content-Type: application/pdf; name="doc.pdf"',
      "Content-Transfer-Encoding: base64",
      'Content-Disposition: attachment; filename="doc.pdf"',
      "",
      ...base64Lines(pdf),
      "--m",
      'Content-Type: text/csv; name="a.csv"',
      "Content-Transfer-Encoding: quoted-printable",
      "Content-Disposition: attachment",
      "",
      "a,b=3Dc,=E2=82=AC",
      "--m--",
    );
    const parsed = await parseMessage(Readable.from([raw]), opts());
    expect(parsed.parseError).toBeNull();
    const [doc, csv] = parsed.attachments;
    expect(doc).toMatchObject({ filename: "doc.pdf", contentType: "application/pdf", size: pdf.length, sha256: sha256(pdf), disposition: "attachment", contentId: null });
    expect(doc.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const blob = await readFile(join(dir, "blobs", doc.sha256.slice(0, 2), doc.sha256.slice(2, 4), doc.sha256));
    expect(blob.equals(pdf)).toBe(true);
    const csvBytes = Buffer.from("a,b=c,€");
    expect(csv).toMatchObject({ size: csvBytes.length, sha256: sha256(csvBytes), filename: "a.csv", contentType: "text/csv" });
    expect((await stat(join(dir, "blobs", csv.sha256.slice(0, 2), csv.sha256.slice(2, 4), csv.sha256))).size).toBe(csvBytes.length);
  });

  it("keeps a forwarded message/rfc822 attachment byte for byte, CRLF included", async () => {
    const inner = crlf("From: orig@example.com", "To: me@example.com", "Subject: original", "", "line one", "line two  ", "", "-- ", "sig", "");
    const raw = crlf(
      "From: fw@example.com",
      "Subject: Fwd: original",
      'Content-Type: multipart/mixed; boundary="fw"',
      "",
      "--fw",
      "Content-Type: text/plain",
      "",
      "forwarding",
      "--fw",
      "Content-Type: message/rfc822",
      'Content-Disposition: attachment; filename="original.eml"',
      "",
      inner,
      "--fw--",
      "",
    );
    const parsed = await parseMessage(Readable.from([raw]), opts());
    const eml = parsed.attachments.find((a) => a.contentType === "message/rfc822");
    expect(eml?.sha256).toBe(sha256(inner));
    const blob = await readFile(join(dir, "blobs", sha256(inner).slice(0, 2), sha256(inner).slice(2, 4), sha256(inner)));
    expect(blob.includes(Buffer.from("line one\r\nline two  \r\n"))).toBe(true);
    expect(blob.equals(inner)).toBe(true);
  });

  it("turns a text part beside an HTML part in multipart/mixed into HTML, escaped and linkified", async () => {
    const raw = crlf(
      "From: a@example.com",
      'Content-Type: multipart/mixed; boundary="m"',
      "",
      "--m",
      "Content-Type: text/plain",
      "",
      "see https://example.com/a & <b>",
      "--m",
      "Content-Type: text/html",
      "",
      "<p>html part</p>",
      "--m--",
      "",
    );
    const parsed = await parseMessage(Readable.from([raw]), { ...opts(), sanitize: false });
    expect(parsed.text).toBe("see https://example.com/a & <b>\nhtml part");
    expect(parsed.html).toBe('<p>see <a href="https://example.com/a">https://example.com/a</a> &amp; &lt;b&gt;</p><br/>\n<p>html part</p>');
  });

  it("reports garbage as a parse error without throwing", async () => {
    const garbage = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 256));
    const parsed = await parseMessage(Readable.from([garbage]), opts());
    expect(parsed.parseError).toBe(NO_HEADERS_ERROR);
    expect(parsed.attachments).toEqual([]);
  });

  it("reports junk in a base64 part and keeps the rest of the message", async () => {
    const raw = crlf(
      "From: a@example.com",
      'Content-Type: multipart/mixed; boundary="x"',
      "",
      "--x",
      "Content-Type: text/plain",
      "",
      "still readable",
      "--x",
      "Content-Type: application/pdf; name=broken.pdf",
      "Content-Transfer-Encoding: base64",
      "",
      "JVBERi0xLjQK!!!*** not base64 at all ###",
      "--x--",
    );
    const parsed = await parseMessage(Readable.from([raw]), opts());
    expect(parsed.parseError).toBe(BAD_BASE64_ERROR);
    expect(parsed.text).toBe("still readable");
    expect(parsed.attachments.map((a) => a.filename)).toEqual(["broken.pdf"]);
  });

  it("does not flag valid base64 wrapped at any width", async () => {
    const raw = crlf("From: a@example.com", "Content-Type: application/octet-stream", "Content-Transfer-Encoding: base64", "", PIXEL_PNG.toString("base64"), "");
    const parsed = await parseMessage(Readable.from([raw]), opts());
    expect(parsed.parseError).toBeNull();
    expect(parsed.attachments[0].sha256).toBe(sha256(PIXEL_PNG));
  });

  it("flags a multipart body whose boundary is never used, keeping the headers", async () => {
    const raw = crlf(
      "From: a@example.com",
      "Subject: wrong boundary",
      'Content-Type: multipart/alternative; boundary="declared"',
      "",
      "--actual",
      "Content-Type: text/plain",
      "",
      "hello",
      "--actual--",
    );
    const parsed = await parseMessage(Readable.from([raw]), opts());
    expect(parsed.parseError).toBe(NO_PARTS_ERROR);
    expect(parsed.subject).toBe("wrong boundary");
    expect(parsed.from).toEqual([{ name: "", address: "a@example.com" }]);
  });

  it("does not flag a message with an empty body", async () => {
    const parsed = await parseMessage(Readable.from([crlf("From: a@example.com", "Subject: empty", "", "")]), opts());
    expect(parsed.parseError).toBeNull();
  });

  it("sets parseError when the parser itself gives up (too many parts)", async () => {
    const parts = Array.from({ length: 1100 }, (_, i) => `--p\r\nContent-Type: text/plain\r\n\r\npart ${i}`);
    const raw = crlf("From: a@example.com", 'Content-Type: multipart/mixed; boundary="p"', "", ...parts, "--p--");
    const parsed = await parseMessage(Readable.from([raw]), opts());
    expect(parsed.parseError).toMatch(/\w/);
    expect(parsed.from).toEqual([{ name: "", address: "a@example.com" }]);
  });

  it("cuts text and HTML at the byte limits", async () => {
    const raw = crlf("From: a@example.com", "Content-Type: text/plain; charset=utf-8", "", Buffer.from("€".repeat(100)));
    const parsed = await parseMessage(Readable.from([raw]), { ...opts(), maxTextBytes: 10 });
    expect(parsed.text).toBe("€€€");
    const html = crlf("From: a@example.com", "Content-Type: text/html; charset=utf-8", "", Buffer.from(`<p>${"ü".repeat(100)}</p>`));
    const cut = await parseMessage(Readable.from([html]), { ...opts(), maxHtmlBytes: 8 });
    expect(cut.html).toBe("<p>üü");
    expect(cut.sanitizedHtml).toBe("<p>üü</p>");
  });

  it("throws STORE_FAILED for a message file that does not exist", async () => {
    const error = await parseMessage(join(dir, "nope.eml"), opts()).catch((e: unknown) => e);
    expect(isInboundError(error, "STORE_FAILED")).toBe(true);
  });

  it("throws when the source stream fails mid-way", async () => {
    const source = new Readable({ read() {} });
    source.push(crlf("From: a@example.com", "Subject: x", "", "partial"));
    setTimeout(() => source.destroy(new Error("connection reset")), 10);
    await expect(parseMessage(source, opts())).rejects.toThrow(/connection reset/);
  });
});
