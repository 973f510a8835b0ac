import Encoding from "encoding-japanese";
import iconv from "iconv-lite";
import { createPrng, type Prng } from "./prng.js";

/** The charsets the corpus mixes; each decodes differently in a naive parser. */
export const CHARSETS = ["utf-8", "iso-8859-1", "windows-1252", "iso-2022-jp", "koi8-r"] as const;
export type Charset = (typeof CHARSETS)[number];

/** What one generated message is made of, for the corpus summary. */
export interface CorpusStats {
  messages: number;
  bytes: number;
  withAttachments: number;
  attachments: number;
  largest: number;
  byCharset: Record<Charset, number>;
  byKind: Record<"text" | "html" | "alternative", number>;
}

const ENGLISH = "the report meeting invoice project schedule update customer order shipping please review attached tomorrow morning team budget quarter figures delivery contract support ticket account payment reminder agenda notes follow-up thanks regards draft final version".split(" ");
const WORDS: Record<Charset, string[]> = {
  "utf-8": "café naïve Grüße señor façade über déjà Øresund привет письмо こんにちは 添付ファイル 会議 ✓ € — “quoted” 🙂 Zürich Kraków İstanbul".split(" "),
  "iso-8859-1": "café naïve Grüße señor façade über déjà Øresund Müller Ångström Ærø garçon crème brûlée".split(" "),
  "windows-1252": "café naïve Grüße señor façade “quoted” ‘single’ €100 – — … Œuvre ™ •".split(" "),
  "iso-2022-jp": "こんにちは メール 添付ファイル 会議 明日 報告書 確認 よろしくお願いします 東京 資料".split(" "),
  "koi8-r": "привет письмо сообщение почта вложение отчёт встреча завтра Москва документ спасибо".split(" "),
};
const SUBJECTS: Record<Charset, string[]> = {
  "utf-8": ["Grüße aus Zürich ✓", "Отчёт за квартал — итоги", "会議の資料 🙂", "Re: façade déjà vu €"],
  "iso-8859-1": ["Grüße aus München", "Réunion de demain à Genève", "Señor Müller: façade"],
  "windows-1252": ["“Quarterly” figures – €1.2M …", "Œuvre complète – révisé", "Invoice ‘draft’ — final"],
  "iso-2022-jp": ["会議の資料について", "明日の打ち合わせ 確認", "報告書を送ります"],
  "koi8-r": ["Отчёт за квартал", "Встреча завтра в Москве", "Документы на подпись"],
};
const NAMES: Record<Charset, string[]> = {
  "utf-8": ["Anna Müller", "Иван Петров", "山田 太郎", "Zoë O'Brien"],
  "iso-8859-1": ["Anna Müller", "Zoë O'Brien", "François Lefèvre"],
  "windows-1252": ["Anna Müller", "Zoë “Z” O'Brien", "Œdipe Lefèvre"],
  "iso-2022-jp": ["山田 太郎", "佐藤 花子"],
  "koi8-r": ["Иван Петров", "Ольга Смирнова"],
};
const ATTACHMENT_TYPES = [
  { ext: "pdf", type: "application/pdf" },
  { ext: "png", type: "image/png" },
  { ext: "jpg", type: "image/jpeg" },
  { ext: "zip", type: "application/zip" },
  { ext: "docx", type: "application/vnd.openxmlformats-officedocument.wordprocessingml.document" },
];
const NON_ASCII_NAMES = ["отчёт", "資料", "Übersicht", "résumé", "presupuesto-año"];

/** Attachment bytes are slices of one random pool: incompressible, distinct per offset, and cheap to make. */
const POOL_SIZE = 4 * 1024 * 1024;

/**
 * Generate `count` messages from `seed`, one raw RFC 5322 message (CRLF line
 * ends) at a time: plain text, HTML, multipart/alternative, attachments of
 * 10 KB–2 MB (base64) in 30% of them, five charsets with RFC 2047 subjects
 * and RFC 2231 file names. The same seed gives the same bytes.
 *
 * @example
 * ```ts
 * for (const raw of generateCorpus(2000, 1)) dovecot.deliver("bench", raw);
 * ```
 */
export function* generateCorpus(count: number, seed: number, stats?: CorpusStats): Generator<Buffer> {
  const rng = createPrng(seed);
  const pool = Buffer.alloc(POOL_SIZE);
  rng.fill(pool);
  for (let i = 0; i < count; i++) {
    const raw = generateMessage(i, rng, pool, seed, stats);
    if (stats) {
      stats.messages++;
      stats.bytes += raw.length;
      stats.largest = Math.max(stats.largest, raw.length);
    }
    yield raw;
  }
}

/** An empty {@link CorpusStats} to pass to {@link generateCorpus}. */
export function emptyCorpusStats(): CorpusStats {
  return {
    messages: 0,
    bytes: 0,
    withAttachments: 0,
    attachments: 0,
    largest: 0,
    byCharset: Object.fromEntries(CHARSETS.map((c) => [c, 0])) as Record<Charset, number>,
    byKind: { text: 0, html: 0, alternative: 0 },
  };
}

function generateMessage(index: number, rng: Prng, pool: Buffer, seed: number, stats?: CorpusStats): Buffer {
  const charset = rng.pick(CHARSETS);
  const roll = rng.next();
  const kind = roll < 0.35 ? "text" : roll < 0.5 ? "html" : "alternative";
  const attachmentCount = rng.next() < 0.3 ? (rng.next() < 0.75 ? 1 : rng.next() < 0.8 ? 2 : 3) : 0;
  if (stats) {
    stats.byCharset[charset]++;
    stats.byKind[kind]++;
    if (attachmentCount > 0) stats.withAttachments++;
    stats.attachments += attachmentCount;
  }

  const date = new Date(Date.UTC(2024, 0, 1) + index * 7 * 60_000 + rng.int(0, 59_000));
  const fromName = encodeWord(rng.next() < 0.2 ? "Support Team" : rng.pick(NAMES[charset]), charset);
  const headers = [
    `Return-Path: <sender${index % 97}@example.org>`,
    `Received: from mx${index % 5}.example.org (mx${index % 5}.example.org [192.0.2.${index % 250}]) by mail.inbound.test with ESMTPS id b${seed}x${index}; ${date.toUTCString()}`,
    `Message-ID: <bench-${seed}-${index}@example.org>`,
    `Date: ${date.toUTCString().replace("GMT", "+0000")}`,
    `From: ${fromName} <sender${index % 97}@example.org>`,
    `To: "Inbound Bench" <bench@inbound.test>, ${encodeWord(charset === "iso-2022-jp" || charset === "koi8-r" ? rng.pick(NAMES[charset]) : "Équipe Ventes", charset)} <sales@inbound.test>`,
    ...(rng.next() < 0.3 ? [`Cc: ops@inbound.test, "Night Desk" <night@inbound.test>`] : []),
    `Subject: ${encodeWord(`${rng.pick(SUBJECTS[charset])} #${index}`, charset)}`,
    "MIME-Version: 1.0",
  ];

  const textSize = rng.logInt(600, 24_000);
  const htmlSize = rng.logInt(3_000, 60_000);
  const inlineImage = kind !== "text" && attachmentCount > 0 && rng.next() < 0.3;
  const textPart = () => bodyPart("text/plain", prose(rng, charset, textSize), charset, rng);
  const htmlPart = () => bodyPart("text/html", html(rng, charset, htmlSize, inlineImage ? `img${index}@inbound.test` : null), charset, rng);
  let body: Part =
    kind === "text" ? textPart() : kind === "html" ? htmlPart() : multipart("alternative", [textPart(), htmlPart()], rng);

  if (attachmentCount > 0) {
    const parts: Part[] = [body];
    for (let a = 0; a < attachmentCount; a++) {
      const size = rng.logInt(10 * 1024, 2 * 1024 * 1024);
      const offset = rng.int(0, POOL_SIZE - size);
      const kindOf = rng.pick(ATTACHMENT_TYPES);
      const base = rng.next() < 0.2 ? rng.pick(NON_ASCII_NAMES) : `${rng.pick(ENGLISH)}-${index}-${a}`;
      const cid = inlineImage && a === 0 ? `img${index}@inbound.test` : null;
      parts.push(attachmentPart(pool.subarray(offset, offset + size), cid ? "image/png" : kindOf.type, `${base}.${cid ? "png" : kindOf.ext}`, cid));
    }
    body = multipart(inlineImage ? "related" : "mixed", parts, rng);
  }
  return Buffer.concat([Buffer.from(`${headers.join("\r\n")}\r\n`, "latin1"), body.header, Buffer.from("\r\n"), body.body]);
}

interface Part {
  header: Buffer;
  body: Buffer;
}

function multipart(subtype: string, parts: Part[], rng: Prng): Part {
  const boundary = `----=_Part_${rng.int(1e8, 9e8)}_${rng.int(1e8, 9e8)}`;
  const chunks: Buffer[] = [Buffer.from("This is a multi-part message in MIME format.\r\n")];
  for (const part of parts) {
    chunks.push(Buffer.from(`\r\n--${boundary}\r\n`), part.header, Buffer.from("\r\n"), part.body);
  }
  chunks.push(Buffer.from(`\r\n--${boundary}--\r\n`));
  return { header: Buffer.from(`Content-Type: multipart/${subtype}; boundary="${boundary}"\r\n`), body: Buffer.concat(chunks) };
}

function bodyPart(type: string, text: string, charset: Charset, rng: Prng): Part {
  const bytes = encode(text.replace(/\r?\n/g, "\r\n"), charset);
  let cte: string;
  let body: Buffer;
  if (charset === "iso-2022-jp") {
    cte = "7bit";
    body = bytes;
  } else if (charset === "koi8-r" || (charset === "utf-8" && rng.next() < 0.5)) {
    cte = rng.next() < 0.5 ? "8bit" : "base64";
    body = cte === "8bit" ? bytes : base64Lines(bytes);
  } else {
    cte = "quoted-printable";
    body = quotedPrintable(bytes);
  }
  return { header: Buffer.from(`Content-Type: ${type}; charset="${charset}"\r\nContent-Transfer-Encoding: ${cte}\r\n`), body };
}

function attachmentPart(content: Buffer, type: string, filename: string, cid: string | null): Part {
  // RFC 2231 for non-ASCII names (as most clients send them), plain quoted otherwise.
  const ascii = /^[\x20-\x7e]*$/.test(filename);
  const nameParam = ascii ? `filename="${filename}"` : `filename*=utf-8''${encodeURIComponent(filename)}`;
  const typeParam = ascii ? `; name="${filename}"` : "";
  const header = [
    `Content-Type: ${type}${typeParam}`,
    "Content-Transfer-Encoding: base64",
    `Content-Disposition: ${cid ? "inline" : "attachment"}; ${nameParam}`,
    ...(cid ? [`Content-ID: <${cid}>`] : []),
  ];
  return { header: Buffer.from(`${header.join("\r\n")}\r\n`), body: base64Lines(content) };
}

function prose(rng: Prng, charset: Charset, size: number): string {
  const native = WORDS[charset];
  const lines: string[] = [];
  let line = "";
  let length = 0;
  while (length < size) {
    const word = rng.next() < 0.3 ? rng.pick(native) : rng.pick(ENGLISH);
    if (line.length + word.length > 70) {
      lines.push(line);
      length += line.length + 2;
      line = rng.next() < 0.1 ? "" : word;
      if (line === "") lines.push("");
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  lines.push(line, "", "-- ", "Sent by the Inbound benchmark");
  return lines.join("\n");
}

function html(rng: Prng, charset: Charset, size: number, cid: string | null): string {
  const rows: string[] = [];
  let length = 0;
  while (length < size) {
    const cell = prose(rng, charset, rng.int(200, 800)).split("\n").slice(0, 3).join(" ");
    const row = `<tr><td style="padding:8px;font-family:Arial,sans-serif;color:#333" bgcolor="#f7f7f7"><p>${escapeHtml(cell)}</p><a href="https://example.org/r/${rng.int(1, 1e6)}" target="_blank">Read more</a></td></tr>\n`;
    rows.push(row);
    length += row.length;
  }
  const image = cid ? `<img src="cid:${cid}" width="120" height="40" alt="logo">` : `<img src="https://example.org/logo.png" alt="logo">`;
  return `<!DOCTYPE html><html><head><meta charset="${charset}"><style>td{font-size:14px}</style></head><body>${image}<table width="600" cellpadding="0" cellspacing="0" border="0">\n${rows.join("")}</table><script>track()</script></body></html>`;
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** RFC 2047 encoded words (B for iso-2022-jp, Q or B otherwise), each well under 75 characters. */
function encodeWord(text: string, charset: Charset): string {
  if (/^[\x20-\x7e]*$/.test(text)) return text;
  const words: string[] = [];
  const chars = [...text];
  for (let i = 0; i < chars.length; i += 10) {
    const bytes = encode(chars.slice(i, i + 10).join(""), charset);
    if (charset === "iso-2022-jp" || charset === "utf-8") {
      words.push(`=?${charset}?B?${bytes.toString("base64")}?=`);
    } else {
      let q = "";
      for (const byte of bytes) {
        q += byte === 0x20 ? "_" : /[A-Za-z0-9!*+\-/]/.test(String.fromCharCode(byte)) ? String.fromCharCode(byte) : `=${byte.toString(16).toUpperCase().padStart(2, "0")}`;
      }
      words.push(`=?${charset}?Q?${q}?=`);
    }
  }
  return words.join("\r\n ");
}

/** iconv-lite has no ISO-2022-JP encoder; encoding-japanese (what libmime decodes it with) has. */
function encode(text: string, charset: Charset): Buffer {
  if (charset !== "iso-2022-jp") return iconv.encode(text, charset);
  return Buffer.from(Encoding.convert(Encoding.stringToCode(text), { to: "JIS", from: "UNICODE" }) as number[]);
}

function base64Lines(bytes: Buffer): Buffer {
  const encoded = bytes.toString("base64");
  const lineCount = Math.ceil(encoded.length / 76);
  const out = Buffer.allocUnsafe(encoded.length + lineCount * 2);
  let o = 0;
  for (let i = 0; i < encoded.length; i += 76) {
    o += out.write(encoded.slice(i, i + 76), o, "latin1");
    out[o++] = 13;
    out[o++] = 10;
  }
  return out.subarray(0, o);
}

function quotedPrintable(bytes: Buffer): Buffer {
  // Worst case every byte becomes "=XX" plus a soft break every 25 bytes.
  const out = Buffer.allocUnsafe(bytes.length * 3 + Math.ceil(bytes.length / 25) * 3 + 3);
  let o = 0;
  let column = 0;
  const hex = "0123456789ABCDEF";
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i];
    if (byte === 13 && bytes[i + 1] === 10) {
      out[o++] = 13;
      out[o++] = 10;
      column = 0;
      i++;
      continue;
    }
    const atLineEnd = bytes[i + 1] === 13 || i + 1 === bytes.length;
    const literal = (byte >= 33 && byte <= 126 && byte !== 61) || (byte === 32 && !atLineEnd);
    const width = literal ? 1 : 3;
    if (column + width > 75) {
      out[o++] = 61;
      out[o++] = 13;
      out[o++] = 10;
      column = 0;
    }
    if (literal) {
      out[o++] = byte;
    } else {
      out[o++] = 61;
      out[o++] = hex.charCodeAt(byte >> 4);
      out[o++] = hex.charCodeAt(byte & 15);
    }
    column += width;
  }
  return out.subarray(0, o);
}
