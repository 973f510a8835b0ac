import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { InboundError } from "../core/inbound-error.js";

/** What parsing needs from a blob store: stream bytes in, get their address back. */
export interface BlobSink {
  write(readable: Readable): Promise<{ sha256: string; size: number }>;
}

/**
 * Stand-in for `createBlobStore` from src/store/blob-store.ts until that file
 * lands: same on-disk layout (`<dir>/ab/cd/<sha256>`) and the same `write`
 * contract, so switching is an import change. Delete once store has it.
 */
export function createTemporaryBlobStore(dir: string): BlobSink {
  return {
    async write(readable) {
      const hash = createHash("sha256");
      let size = 0;
      const tmpDir = join(dir, "tmp");
      await mkdir(tmpDir, { recursive: true });
      const tmp = join(tmpDir, `${randomBytes(12).toString("hex")}.part`);
      const hasher = new Transform({
        transform(chunk: Buffer, _enc, done) {
          hash.update(chunk);
          size += chunk.length;
          done(null, chunk);
        },
      });
      try {
        await pipeline(readable, hasher, createWriteStream(tmp));
        const sha256 = hash.digest("hex");
        const target = join(dir, sha256.slice(0, 2), sha256.slice(2, 4));
        await mkdir(target, { recursive: true });
        await rename(tmp, join(target, sha256));
        return { sha256, size };
      } catch (error) {
        await rm(tmp, { force: true });
        throw new InboundError("STORE_FAILED", { message: `Could not write a blob under ${dir}: ${(error as Error).message}`, cause: error, retryable: true });
      }
    },
  };
}
