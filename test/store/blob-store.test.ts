import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isInboundError } from "../../src/core/inbound-error.js";
import { createBlobStore, type BlobStore } from "../../src/store/blob-store.js";

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");

describe("blob store", () => {
  let dir: string;
  let blobs: BlobStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "inbound-blobs-"));
    blobs = createBlobStore(join(dir, "blobs"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("names content by its SHA-256 under ab/cd/ and reads it back", async () => {
    const ref = await blobs.write(Readable.from([Buffer.from("Subject: hi\r\n\r\n"), Buffer.from("body")]));
    expect(ref).toEqual({ sha256: sha256("Subject: hi\r\n\r\nbody"), size: 19 });
    expect(blobs.path(ref.sha256)).toBe(join(dir, "blobs", ref.sha256.slice(0, 2), ref.sha256.slice(2, 4), ref.sha256));
    expect(await blobs.has(ref.sha256)).toBe(true);
    const chunks: Buffer[] = [];
    for await (const chunk of blobs.createReadStream(ref.sha256)) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe("Subject: hi\r\n\r\nbody");
  });

  it("stores identical content once and leaves no temp files", async () => {
    const a = await blobs.writeBuffer(Buffer.from("same"));
    const b = await blobs.write(Readable.from([Buffer.from("sa"), Buffer.from("me")]));
    expect(b).toEqual(a);
    const shard = join(dir, "blobs", a.sha256.slice(0, 2), a.sha256.slice(2, 4));
    expect(await readdir(shard)).toEqual([a.sha256]);
    expect(await readdir(join(dir, "blobs", "tmp"))).toEqual([]);
  });

  it("lets a caller push chunks and finish, or abort without leaving anything", async () => {
    const writer = await blobs.createWriter();
    await writer.write(Buffer.from("part1-"));
    await writer.write(Buffer.from("part2"));
    const ref = await writer.finish();
    expect(await readFile(blobs.path(ref.sha256), "utf8")).toBe("part1-part2");

    const aborted = await blobs.createWriter();
    await aborted.write(Buffer.from("never stored"));
    await aborted.abort();
    expect(await blobs.has(sha256("never stored"))).toBe(false);
    expect(await readdir(join(dir, "blobs", "tmp"))).toEqual([]);
  });

  it("drops the temp file when the source stream fails", async () => {
    async function* failing() {
      yield Buffer.from("half");
      throw new Error("connection reset");
    }
    await expect(blobs.write(failing())).rejects.toThrow("connection reset");
    expect(await readdir(join(dir, "blobs", "tmp"))).toEqual([]);
  });

  it("throws BLOB_NOT_FOUND for missing content and refuses non-hash names", async () => {
    const error = (() => {
      try {
        blobs.createReadStream("0".repeat(64));
      } catch (e) {
        return e;
      }
    })();
    expect(isInboundError(error, "BLOB_NOT_FOUND")).toBe(true);
    expect(() => blobs.path("../../etc/passwd")).toThrow(RangeError);
  });

  it("streams 100 MB to disk with flat memory and the right hash", async () => {
    const chunkSize = 64 * 1024;
    const total = 100 * 1024 * 1024;
    const expected = createHash("sha256");
    async function* generate() {
      for (let offset = 0, n = 0; offset < total; offset += chunkSize, n++) {
        const chunk = Buffer.alloc(chunkSize, n % 251);
        chunk.writeUInt32BE(n, 0);
        expected.update(chunk);
        yield chunk;
      }
    }
    (globalThis as { gc?: () => void }).gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
    try {
      const ref = await blobs.write(generate());
      peak = Math.max(peak, process.memoryUsage().rss);
      expect(ref.size).toBe(total);
      expect(ref.sha256).toBe(expected.digest("hex"));
    } finally {
      clearInterval(timer);
    }
    expect(peak - before).toBeLessThan(50 * 1024 * 1024);
  });
});
