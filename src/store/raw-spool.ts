import { createHash } from "node:crypto";
import { createReadStream, existsSync, writeSync } from "node:fs";
import { open, readdir, rm, stat, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { InboundError } from "../core/inbound-error.js";
import { newId } from "../core/ids.js";
import { coalescedWrites, ensureDir, fsyncDir, storeFailed } from "./durable-files.js";

/** Where a taken message's raw bytes are: its batch's segment and the offset in it. */
export interface SpoolRef {
  segment: string;
  offset: number;
}

/** One message appended to a segment: where, how long, its SHA-256 and its first `headBytes` bytes. */
export interface SpooledRaw extends SpoolRef {
  sha256: string;
  size: number;
  head: Buffer;
}

/**
 * One batch's segment file, written front to back. `append` returns once the
 * bytes are in the file (not yet durable); `sync` makes everything appended
 * so far durable — call it before the commit that references them.
 */
export interface SpoolSegment {
  readonly name: string;
  append(body: Readable | AsyncIterable<Uint8Array> | Uint8Array, headBytes: number): Promise<SpooledRaw>;
  sync(): Promise<void>;
  /** Close the file (and keep it: committed rows point into it). */
  close(): Promise<void>;
  /** Close and delete: nothing committed points into it. */
  discard(): Promise<void>;
}

/**
 * The raw spool: taking a message appends it to its batch's segment file
 * (one file create and one fsync per batch instead of per message, which is
 * what bounded the take rate), and the message's raw bytes stay there: the
 * parser reads them from their range, and so does every later reader. A
 * segment is deleted only when no row points into it (a batch whose messages
 * were all stored already, or one left by a crash or a failed commit).
 */
export interface RawSpool {
  readonly dir: string;
  create(): Promise<SpoolSegment>;
  /** The bytes of one message. Throws BLOB_NOT_FOUND when its segment is gone. */
  createReadStream(ref: SpoolRef, size: number): Readable;
  path(segment: string): string;
  remove(segment: string): Promise<void>;
  /** Segment names with their last write time, for sweeping orphans. */
  list(): Promise<Array<{ segment: string; modifiedAt: Date }>>;
}

const SEGMENT_NAME = /^[0-9a-f-]{36}$/;

function checkSegment(segment: string): string {
  // The name becomes a path: refuse anything else, so no caller can escape the directory.
  if (!SEGMENT_NAME.test(segment)) throw new RangeError(`Not a spool segment name: ${JSON.stringify(segment)}`);
  return segment;
}

const spoolFailed = (what: string, cause: unknown) => storeFailed("Raw spool", what, cause);

/**
 * The spool under `dir` (usually `<dataDir>/blobs/spool`, beside the blobs,
 * so every process that reads blobs reads the spool too).
 *
 * @example
 * ```ts
 * const segment = await spool.create();
 * const raw = await segment.append(socketStream, 64 * 1024);
 * await segment.sync();     // durable: now commit rows holding { segment: raw.segment, offset: raw.offset }
 * await segment.close();
 * spool.createReadStream(raw, raw.size).pipe(parser);
 * ```
 */
export function createRawSpool(dir: string): RawSpool {
  const pathOf = (segment: string) => join(dir, `${checkSegment(segment)}.seg`);

  async function create(): Promise<SpoolSegment> {
    const name = newId();
    const file = pathOf(name);
    let handle: FileHandle;
    try {
      await ensureDir(dir);
      handle = await open(file, "wx", 0o600);
    } catch (error) {
      throw spoolFailed("cannot create a segment", error);
    }
    let end = 0;
    let dirSynced = false;
    let closed = false;
    // Synchronous: a write into the page cache takes microseconds, while an async one waits its turn
    // in libuv's four threads behind the parsers' fsyncs. Durability comes from sync(), not from here.
    const writes = coalescedWrites(async (bytes) => {
      let offset = 0;
      while (offset < bytes.byteLength) offset += writeSync(handle.fd, bytes, offset, bytes.byteLength - offset);
    });

    return {
      name,
      async append(body, headBytes) {
        if (closed) throw new Error("SpoolSegment.append after close()");
        const offset = end;
        const hash = createHash("sha256");
        const head: Buffer[] = [];
        let headSize = 0;
        let size = 0;
        const take = async (chunk: Uint8Array): Promise<void> => {
          hash.update(chunk);
          if (headSize < headBytes) {
            const part = Buffer.from(chunk.buffer, chunk.byteOffset, Math.min(chunk.byteLength, headBytes - headSize));
            head.push(Buffer.from(part));
            headSize += part.length;
          }
          size += chunk.byteLength;
          await writes.put(chunk);
        };
        try {
          if (body instanceof Uint8Array) await take(body);
          else for await (const chunk of body as AsyncIterable<Uint8Array | string>) await take(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
        } catch (error) {
          // The partial message stays in the file, unreferenced; the next append starts after it.
          end = offset + size;
          throw error instanceof InboundError ? error : spoolFailed("write failed", error);
        }
        end = offset + size;
        return { segment: name, offset, size, sha256: hash.digest("hex"), head: Buffer.concat(head) };
      },
      async sync() {
        try {
          await writes.flush();
          await handle.sync();
          if (!dirSynced) {
            // The new file's name is durable only once its directory is synced.
            await fsyncDir(dir);
            dirSynced = true;
          }
        } catch (error) {
          throw spoolFailed("cannot sync a segment", error);
        }
      },
      async close() {
        if (closed) return;
        closed = true;
        await writes.flush().finally(() => handle.close());
      },
      async discard() {
        if (!closed) {
          closed = true;
          await handle.close().catch(() => undefined);
        }
        await rm(file, { force: true });
      },
    };
  }

  return {
    dir,
    create,
    path: pathOf,
    createReadStream(ref, size) {
      const file = pathOf(ref.segment);
      if (!existsSync(file)) {
        throw new InboundError("BLOB_NOT_FOUND", {
          message: `The segment file ${file} holding a stored message is missing; restore the blobs directory from a backup.`,
        });
      }
      if (size === 0) return Readable.from([]);
      return createReadStream(file, { start: ref.offset, end: ref.offset + size - 1, highWaterMark: 64 * 1024 });
    },
    async remove(segment) {
      await rm(pathOf(segment), { force: true });
    },
    async list() {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
        throw error;
      }
      const out: Array<{ segment: string; modifiedAt: Date }> = [];
      for (const name of names) {
        const segment = name.endsWith(".seg") ? name.slice(0, -4) : "";
        if (!SEGMENT_NAME.test(segment)) continue;
        try {
          out.push({ segment, modifiedAt: (await stat(join(dir, name))).mtime });
        } catch {
          // Removed meanwhile.
        }
      }
      return out;
    },
  };
}
