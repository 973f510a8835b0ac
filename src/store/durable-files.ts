import { mkdir, open } from "node:fs/promises";
import { dirname } from "node:path";
import { InboundError } from "../core/inbound-error.js";

/*
 * What the blob store and the raw spool share: the error a failed file
 * operation becomes, directories whose creation survives a crash, and
 * gathering small writes into large ones.
 */

/** A file operation of `store` ("Blob store", "Raw spool") failed: retryable STORE_FAILED with the cause's words. */
export function storeFailed(store: string, what: string, cause: unknown): InboundError {
  return new InboundError("STORE_FAILED", {
    message: `${store}: ${what}: ${cause instanceof Error ? cause.message : String(cause)}`,
    cause,
    retryable: true,
  });
}

/** Open a directory and fsync it, so the names in it (a rename, a new file) are durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Directories known to exist, per thread and shared by every store in it (a
 * parser makes a blob store per message), so a write costs no mkdir after
 * the first into a directory.
 */
const madeDirs = new Map<string, Promise<void>>();

/**
 * `mkdir -p path`, once per thread. A directory this creates has its entry
 * synced into its parent, up to one that existed: a file renamed into it
 * must survive a crash.
 */
export function ensureDir(path: string): Promise<void> {
  let made = madeDirs.get(path);
  if (made === undefined) {
    made = mkdir(path, { recursive: true }).then(async (first) => {
      if (first === undefined) return;
      for (let dir = path; dir.length >= first.length; dir = dirname(dir)) await fsyncDir(dirname(dir));
    });
    made.catch(() => madeDirs.delete(path));
    madeDirs.set(path, made);
  }
  return made;
}

/** Writes smaller than this are gathered into one buffer of this size before they go to disk. */
const COALESCE = 256 * 1024;

/** Small chunks gathered into one buffer; see {@link coalescedWrites}. */
export interface CoalescedWrites {
  /** Write `chunk`, or keep a copy to write with the next ones. */
  put(chunk: Uint8Array): Promise<void>;
  /** Write whatever is kept. */
  flush(): Promise<void>;
}

/**
 * Small chunks (a socket's packets, a parser's decoded lines) are copied
 * into one 256 KB buffer and handed to `writeAll` together: one system call
 * per 256 KB instead of one per chunk, and never more than that held.
 */
export function coalescedWrites(writeAll: (bytes: Uint8Array) => Promise<void>): CoalescedWrites {
  let pending: Buffer | null = null;
  let pendingBytes = 0;
  async function flush(): Promise<void> {
    if (pending === null || pendingBytes === 0) return;
    const bytes = pending.subarray(0, pendingBytes);
    pending = null;
    pendingBytes = 0;
    await writeAll(bytes);
  }
  return {
    flush,
    async put(chunk) {
      if (chunk.byteLength >= COALESCE) {
        await flush();
        await writeAll(chunk);
        return;
      }
      if (pendingBytes + chunk.byteLength > COALESCE) await flush();
      pending ??= Buffer.allocUnsafe(COALESCE);
      pending.set(chunk, pendingBytes);
      pendingBytes += chunk.byteLength;
    },
  };
}
