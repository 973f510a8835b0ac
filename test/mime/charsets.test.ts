import iconv from "iconv-lite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseMessage } from "../../src/mime/parse-message.js";
import { crlf, encodedWord, tempDir, writeMessage } from "./message-fixtures.js";

/**
 * iconv-lite has no ISO-2022-JP encoder, but it has EUC-JP, and for JIS X 0208
 * characters ISO-2022-JP is EUC-JP with the high bit cleared between
 * ESC $ B and ESC ( B.
 */
function iso2022jp(text: string): Buffer {
  const out: number[] = [];
  let jis = false;
  for (const ch of text) {
    const euc = iconv.encode(ch, "euc-jp");
    const wide = euc.length === 2 && euc[0] >= 0xa1 && euc[1] >= 0xa1;
    if (!wide && euc.length !== 1) throw new Error(`only ASCII and JIS X 0208 in this helper: ${ch}`);
    if (wide !== jis) {
      out.push(...(wide ? [0x1b, 0x24, 0x42] : [0x1b, 0x28, 0x42]));
      jis = wide;
    }
    out.push(...euc.map((b) => b & 0x7f));
  }
  if (jis) out.push(0x1b, 0x28, 0x42);
  return Buffer.from(out);
}

function encode(text: string, charset: string): Buffer {
  return charset === "iso-2022-jp" ? iso2022jp(text) : iconv.encode(text, charset);
}

const CASES = [
  { charset: "iso-8859-1", subject: "Größenänderung für Æsøp", body: "Grüße aus Köln, ça va? Ægir, Øre, ÿ, ½ × ¾ ÷ ©" },
  { charset: "windows-1252", subject: "Preis 5 € „Angebot“ – jetzt", body: "Price: 20 € — “quoted” ‘single’ – dash … ellipsis ™ Š Ž œ Ÿ • †" },
  { charset: "iso-2022-jp", subject: "日本語の件名", body: "こんにちは、世界。日本語の本文です。" },
  { charset: "gb2312", subject: "中文主题测试", body: "你好，世界。这是中文正文。" },
  { charset: "koi8-r", subject: "Привет из Москвы", body: "Съешь же ещё этих мягких французских булок, да выпей чаю." },
];

describe("charsets", () => {
  let dir: string;
  let remove: () => Promise<void>;
  beforeAll(async () => ({ dir, remove } = await tempDir("charsets")));
  afterAll(async () => remove());

  it("builds ISO-2022-JP bytes the way the standard spells them", () => {
    expect(iso2022jp("日本語").toString("hex")).toBe("1b2442467c4b5c386c1b2842");
  });

  it("windows-1252 sample really uses the 0x80-0x9F range", () => {
    const bytes = iconv.encode(CASES[1].body, "windows-1252");
    for (const b of [0x80, 0x93, 0x94, 0x96, 0x97, 0x85, 0x99]) expect(bytes.includes(b)).toBe(true);
  });

  for (const { charset, subject, body } of CASES) {
    it(`decodes ${charset} in an RFC 2047 subject, a display name and the body`, async () => {
      const raw = crlf(
        `From: ${encodedWord(charset, encode(`Sender ${subject.slice(0, 4)}`, charset))} <sender@example.com>`,
        "To: rcpt@example.com",
        `Subject: ${encodedWord(charset, encode(subject, charset))}`,
        "MIME-Version: 1.0",
        `Content-Type: text/plain; charset=${charset}`,
        `Content-Transfer-Encoding: ${charset === "iso-2022-jp" ? "7bit" : "8bit"}`,
        "",
        encode(body, charset),
        "",
      );
      const path = await writeMessage(dir, charset, raw);
      const parsed = await parseMessage(path, { blobDir: dir, sanitize: true, inlineImages: false });
      expect(parsed.parseError).toBeNull();
      expect(parsed.subject).toBe(subject);
      expect(parsed.from).toEqual([{ name: `Sender ${subject.slice(0, 4)}`, address: "sender@example.com" }]);
      expect(parsed.text?.trim()).toBe(body);
    });

    it(`decodes a ${charset} HTML body`, async () => {
      const raw = crlf(
        "From: sender@example.com",
        "Subject: html",
        `Content-Type: text/html; charset="${charset}"`,
        "Content-Transfer-Encoding: base64",
        "",
        encode(`<p>${body}</p>`, charset).toString("base64"),
        "",
      );
      const parsed = await parseMessage(await writeMessage(dir, `${charset}-html`, raw), { blobDir: dir, sanitize: true, inlineImages: false });
      expect(parsed.html).toContain(body);
      expect(parsed.sanitizedHtml).toBe(`<p>${body}</p>`);
    });
  }
});
