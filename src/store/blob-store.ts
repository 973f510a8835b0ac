import { createHash, randomBytes, type Hash } from "node:crypto";
import { createReadStream as fsCreateReadStream, existsSync } from "node:fs";
import { open, rename, rm, stat, type FileHandle } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { InboundError } from "../core/inbound-error.js";
import { coalescedWrites, ensureDir, fsyncDir, storeFailed as failed } from "./durable-files.js";

/** Where content landed: its SHA-256 (hex) and byte count. */
export interface BlobRef {
  sha256: string;
  size: number;
}

/**
 * An open write: push chunks, then `finish()` to hash-name and publish the
 * blob, or `abort()` to drop it. Each `write` waits for the disk, so a caller
 * that awaits it gets backpressure and flat memory.
 */
export interface BlobWriter {
  write(chunk: Uint8Array): Promise<void>;
  finish(): Promise<BlobRef>;
  abort(): Promise<void>;
}

/** Content-addressed files: `<dir>/ab/cd/<sha256>`. Identical content is stored once. */
export interface BlobStore {
  readonly dir: string;
  /** Stream `source` into the store. Never holds more than one chunk in memory. */
  write(source: Readable | AsyncIterable<Uint8Array>): Promise<BlobRef>;
  writeBuffer(data: Uint8Array): Promise<BlobRef>;
  /** Start a write that the caller feeds chunk by chunk. */
  createWriter(): Promise<BlobWriter>;
  /** The file path for a hash (whether or not it exists). */
  path(sha256: string): string;
  /** Throws BLOB_NOT_FOUND when the blob is missing. */
  createReadStream(sha256: string): Readable;
  has(sha256: string): Promise<boolean>;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

function checkHash(sha256: string): string {
  // The hash becomes a path: refuse anything else, so no caller can escape the directory.
  if (!SHA256_HEX.test(sha256)) throw new RangeError(`Not a SHA-256 hex digest: ${JSON.stringify(sha256)}`);
  return sha256;
}

const storeFailed = (what: string, cause: unknown) => failed("Blob store", what, cause);

/**
 * A blob store rooted at `dir` (usually `<dataDir>/blobs`). Needs nothing but
 * the path, so worker threads can build their own.
 *
 * A write goes to `<dir>/tmp/` (same filesystem), is hashed on the way,
 * fsynced, then renamed to its hash name; if that name exists the temp file
 * is dropped. A crash leaves at most a stray temp file, never a partial blob.
 *
 * @example
 * ```ts
 * const blobs = createBlobStore(join(dataDir, "blobs"));
 * const { sha256, size } = await blobs.write(socketStream);
 * blobs.createReadStream(sha256).pipe(res);
 * ```
 */
export function createBlobStore(dir: string): BlobStore {
  const tmpDir = join(dir, "tmp");
  const pathOf = (sha256: string) => join(dir, sha256.slice(0, 2), sha256.slice(2, 4), checkHash(sha256));

  async function exists(file: string): Promise<boolean> {
    try {
      await stat(file);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw error;
    }
  }

  async function createWriter(): Promise<BlobWriter> {
    const tmpFile = join(tmpDir, `${Date.now()}-${randomBytes(8).toString("hex")}.tmp`);
    let handle: FileHandle;
    try {
      await ensureDir(tmpDir);
      handle = await open(tmpFile, "wx", 0o600);
    } catch (error) {
      throw storeFailed("cannot create a temporary file", error);
    }
    const hash: Hash = createHash("sha256");
    let size = 0;
    let state: "open" | "done" = "open";
    async function discard(): Promise<void> {
      state = "done";
      await handle.close().catch(() => undefined);
      await rm(tmpFile, { force: true });
    }

    const writes = coalescedWrites(async (bytes) => {
      let offset = 0;
      while (offset < bytes.byteLength) offset += (await handle.write(bytes, offset, bytes.byteLength - offset)).bytesWritten;
    });

    return {
      async write(chunk) {
        if (state !== "open") throw new Error("BlobWriter.write after finish() or abort()");
        hash.update(chunk);
        size += chunk.byteLength;
        try {
          await writes.put(chunk);
        } catch (error) {
          await discard();
          throw storeFailed("write failed", error);
        }
      },
      async finish() {
        if (state !== "open") throw new Error("BlobWriter.finish after finish() or abort()");
        state = "done";
        const sha256 = hash.digest("hex");
        const target = pathOf(sha256);
        try {
          await writes.flush();
          await handle.sync();
          await handle.close();
          await ensureDir(dirname(target));
          // Same name, same bytes: replacing an existing blob is harmless and saves a stat.
          await rename(tmpFile, target);
          // The rename is durable only once its directory is synced.
          await fsyncDir(dirname(target));
        } catch (error) {
          await handle.close().catch(() => undefined);
          await rm(tmpFile, { force: true }).catch(() => undefined);
          throw storeFailed("cannot publish blob", error);
        }
        return { sha256, size };
      },
      async abort() {
        if (state === "open") await discard();
      },
    };
  }

  return {
    dir,
    createWriter,

    async write(source) {
      const writer = await createWriter();
      try {
        for await (const chunk of source as AsyncIterable<Uint8Array | string>) {
          await writer.write(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
        }
      } catch (error) {
        await writer.abort();
        throw error;
      }
      return writer.finish();
    },

    async writeBuffer(data) {
      const writer = await createWriter();
      try {
        await writer.write(data);
      } catch (error) {
        await writer.abort();
        throw error;
      }
      return writer.finish();
    },

    path: pathOf,

    createReadStream(sha256) {
      const file = pathOf(sha256);
      if (!existsSync(file)) {
        throw new InboundError("BLOB_NOT_FOUND", {
          message: `The stored file for ${sha256} is missing from ${dir}; restore the blobs directory from a backup.`,
        });
      }
      return fsCreateReadStream(file);
    },

    has(sha256) {
      return exists(pathOf(sha256));
    },
  };
}
