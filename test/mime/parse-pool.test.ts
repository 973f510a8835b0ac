import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isInboundError } from "../../src/core/inbound-error.js";
import { parseMessage, type ParsedMessage } from "../../src/mime/parse-message.js";
import { createParsePool } from "../../src/mime/parse-pool.js";
import { PIXEL_PNG, base64Lines, crlf, tempDir, writeMessage } from "./message-fixtures.js";

function message(i: number): Buffer {
  const extra = Buffer.from(`attachment ${i} `.repeat(200 + i));
  return crlf(
    `From: "Sender ${i}" <s${i}@example.com>`,
    `To: r${i}@example.com`,
    `Subject: message ${i}`,
    `Date: Tue, 2 Jan 2024 10:${String(i).padStart(2, "0")}:00 +0000`,
    `Message-ID: <m${i}@example.com>`,
    'Content-Type: multipart/related; boundary="r"',
    "",
    "--r",
    "Content-Type: text/html; charset=utf-8",
    "",
    `<p onclick="x()">Hello ${i}</p><img src="cid:img${i}@x">`,
    "--r",
    "Content-Type: image/png",
    "Content-Transfer-Encoding: base64",
    `Content-ID: <img${i}@x>`,
    "",
    ...base64Lines(PIXEL_PNG),
    "--r",
    `Content-Type: text/plain; name="file${i}.txt"`,
    "Content-Transfer-Encoding: base64",
    "Content-Disposition: attachment",
    "",
    ...base64Lines(extra),
    "--r--",
  );
}

/** Ids are new on every parse; compare everything else. */
function withoutIds(parsed: ParsedMessage): unknown {
  const ids = parsed.attachments.map((a) => a.id);
  const scrub = (s: string | null): string | null => ids.reduce<string | null>((acc, id, n) => acc?.replaceAll(id, `#${n}`) ?? null, s);
  return { ...parsed, html: scrub(parsed.html), sanitizedHtml: scrub(parsed.sanitizedHtml), attachments: parsed.attachments.map(({ id: _id, ...rest }) => rest) };
}

describe("parse pool", () => {
  let dir: string;
  let remove: () => Promise<void>;
  beforeAll(async () => ({ dir, remove } = await tempDir("pool")));
  afterAll(async () => remove());

  it("parses 20 messages concurrently on 2 workers with the same result as parseMessage", async () => {
    const paths = await Promise.all(Array.from({ length: 20 }, (_, i) => writeMessage(dir, `m${i}`, message(i))));
    const options = { blobDir: join(dir, "blobs"), sanitize: true, inlineImages: true };
    const pool = createParsePool({ size: 2 });
    try {
      const pooled = await Promise.all(paths.map((p) => pool.parse(p, { ...options, inlineImageUrlTemplate: "/api/v1/attachments/{id}/content" })));
      const direct = await Promise.all(paths.map((p) => parseMessage(p, options)));
      for (let i = 0; i < 20; i++) {
        expect(pooled[i].date).toBeInstanceOf(Date);
        expect(pooled[i].date?.toISOString()).toBe(`2024-01-02T10:${String(i).padStart(2, "0")}:00.000Z`);
        expect(pooled[i].subject).toBe(`message ${i}`);
        expect(pooled[i].sanitizedHtml).toContain(`/api/v1/attachments/${pooled[i].attachments[0].id}/content`);
        expect(withoutIds(pooled[i])).toEqual(withoutIds(direct[i]));
      }
    } finally {
      await pool.close();
    }
  });

  it("fills contentId and sha256 into the URL template", async () => {
    const path = await writeMessage(dir, "tpl", message(1));
    const pool = createParsePool({ size: 1 });
    try {
      const parsed = await pool.parse(path, { blobDir: join(dir, "blobs"), sanitize: true, inlineImages: true, inlineImageUrlTemplate: "https://cdn.test/{sha256}/{contentId}" });
      expect(parsed.sanitizedHtml).toContain(`src="https://cdn.test/${parsed.attachments[0].sha256}/img1%40x"`);
    } finally {
      await pool.close();
    }
  });

  it("passes I/O errors back as the same InboundError", async () => {
    const pool = createParsePool({ size: 1 });
    try {
      const error = await pool.parse(join(dir, "missing.eml"), { blobDir: dir, sanitize: false, inlineImages: false }).catch((e: unknown) => e);
      expect(isInboundError(error, "STORE_FAILED")).toBe(true);
    } finally {
      await pool.close();
    }
  });

  it("fails only the parse whose worker died, and keeps serving with a new worker", async () => {
    // This worker is the real one, except that it exits hard on any file named crash.eml.
    const crash = await writeMessage(dir, "crash", message(2));
    const small = await writeMessage(dir, "small", message(3));
    const pool = createParsePool({ size: 1, workerUrl: new URL("./crashing-parse-worker.mjs", import.meta.url) });
    try {
      const options = { blobDir: join(dir, "blobs"), sanitize: false, inlineImages: false };
      const [crashed, after] = await Promise.allSettled([pool.parse(crash, options), pool.parse(small, options)]);
      expect(crashed.status).toBe("rejected");
      const reason = (crashed as PromiseRejectedResult).reason;
      expect(isInboundError(reason, "MESSAGE_PARSE_FAILED")).toBe(true);
      expect(String(reason.message)).toMatch(/parse worker died while parsing .*crash\.eml: worker exited with code 3/);
      expect(after.status).toBe("fulfilled");
      expect((after as PromiseFulfilledResult<ParsedMessage>).value.subject).toBe("message 3");
    } finally {
      await pool.close();
    }
  });

  it("parses a message too big for a capped worker again on one without the cap", async () => {
    const row = '<tr><td style="color:red" bgcolor="#fff"><a href="https://example.com/x">Link text</a> café 会議</td></tr>\n';
    const big = await writeMessage(dir, "big-html", crlf("From: a@example.com", "Subject: big newsletter", "Content-Type: text/html; charset=utf-8", "", `<table>${row.repeat(60_000)}</table>`));
    const small = await writeMessage(dir, "beside-big", message(5));
    // A cap the big body cannot parse under, but an ordinary message can.
    const pool = createParsePool({ size: 1, resourceLimits: { maxYoungGenerationSizeMb: 8, maxOldGenerationSizeMb: 48 } });
    try {
      const options = { blobDir: join(dir, "blobs"), sanitize: true, inlineImages: false };
      const [parsed, beside] = await Promise.all([pool.parse(big, options), pool.parse(small, options)]);
      expect(parsed.parseError).toBeNull();
      expect(parsed.subject).toBe("big newsletter");
      expect(parsed.sanitizedHtml?.length).toBeGreaterThan(5_000_000);
      expect(beside.subject).toBe("message 5");
    } finally {
      await pool.close();
    }
  });

  it("rejects queued work on close and refuses new work after", async () => {
    const path = await writeMessage(dir, "q", message(4));
    const pool = createParsePool({ size: 1 });
    const options = { blobDir: join(dir, "blobs"), sanitize: false, inlineImages: false };
    const running = expect(pool.parse(path, options)).rejects.toMatchObject({ code: "ABORTED" });
    const queued = expect(pool.parse(path, options)).rejects.toMatchObject({ code: "ABORTED" });
    await pool.close();
    await queued;
    await running;
    await expect(pool.parse(path, options)).rejects.toMatchObject({ code: "ABORTED" });
  });
});
