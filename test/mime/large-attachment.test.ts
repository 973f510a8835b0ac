import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseMessage } from "../../src/mime/parse-message.js";
import { tempDir } from "./message-fixtures.js";

const SIZE = 50 * 1024 * 1024;

/** Write a message with a SIZE-byte base64 attachment without holding it in memory; returns the attachment's sha256. */
async function writeLargeMessage(path: string): Promise<string> {
  const out = createWriteStream(path);
  const hash = createHash("sha256");
  const write = async (text: string): Promise<void> => {
    if (!out.write(text)) await once(out, "drain");
  };
  await write(["From: big@example.com", "Subject: big", 'Content-Type: multipart/mixed; boundary="big"', "", "--big", "Content-Type: text/plain", "", "a big one", "--big",
    'Content-Type: application/octet-stream; name="big.bin"', "Content-Transfer-Encoding: base64", 'Content-Disposition: attachment; filename="big.bin"', "", ""].join("\r\n"));
  const block = 57 * 1024; // 57 bytes make one 76-character line
  for (let done = 0; done < SIZE; done += block) {
    const bytes = randomBytes(Math.min(block, SIZE - done));
    hash.update(bytes);
    await write(bytes.toString("base64").replace(/.{76}/g, "$&\r\n").replace(/\r\n$/, "") + "\r\n");
  }
  await write("--big--\r\n");
  out.end();
  await once(out, "finish");
  return hash.digest("hex");
}

describe("large attachments", () => {
  let dir: string;
  let remove: () => Promise<void>;
  beforeAll(async () => ({ dir, remove } = await tempDir("large")));
  afterAll(async () => remove());

  it("streams a 50 MB attachment to a blob with RSS growth under 100 MB", async () => {
    const path = join(dir, "big.eml");
    const expected = await writeLargeMessage(path);
    expect((await stat(path)).size).toBeGreaterThan(SIZE * 1.3);

    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 5);
    try {
      const parsed = await parseMessage(path, { blobDir: join(dir, "blobs"), sanitize: true, inlineImages: false });
      peak = Math.max(peak, process.memoryUsage().rss);
      expect(parsed.parseError).toBeNull();
      expect(parsed.text).toBe("a big one");
      expect(parsed.attachments).toHaveLength(1);
      expect(parsed.attachments[0]).toMatchObject({ size: SIZE, sha256: expected, filename: "big.bin" });
      const blob = await stat(join(dir, "blobs", expected.slice(0, 2), expected.slice(2, 4), expected));
      expect(blob.size).toBe(SIZE);
    } finally {
      clearInterval(sampler);
    }
    expect((peak - baseline) / 1024 / 1024).toBeLessThan(100);
  }, 180_000);
});
