import type { Readable } from "node:stream";
import type { BlobRef, BlobStore, BlobWriter } from "../store/blob-store.js";
import { sniffHeaders, SNIFF_LIMIT, type SniffedHeaders } from "./header-sniffer.js";

/** A raw message written to the blob store, with the header fields sniffed on the way. */
export interface TakenRaw extends BlobRef {
  headers: SniffedHeaders;
}

async function writeBody(blobs: BlobStore, body: Readable | Buffer): Promise<{ writer: BlobWriter; head: Buffer }> {
  const writer = await blobs.createWriter();
  if (Buffer.isBuffer(body)) {
    await writer.write(body);
    return { writer, head: body.subarray(0, SNIFF_LIMIT) };
  }
  const head: Buffer[] = [];
  let headBytes = 0;
  try {
    for await (const chunk of body) {
      const buffer = chunk as Buffer;
      if (headBytes < SNIFF_LIMIT) {
        head.push(buffer.subarray(0, SNIFF_LIMIT - headBytes));
        headBytes += Math.min(buffer.length, SNIFF_LIMIT - headBytes);
      }
      await writer.write(buffer);
    }
  } catch (error) {
    await writer.abort();
    throw error;
  }
  return { writer, head: Buffer.concat(head) };
}

/** Options for {@link createRawTaker}. */
export interface RawTakerOptions {
  /** Messages whose fsync may be outstanding at once. Default 16. */
  maxInFlight?: number;
}

/**
 * Takes the messages of one batch, overlapping each message's fsync and
 * rename with the download of the next: `take` returns as soon as the bytes
 * are in the (not yet durable) temp file, and `drain` waits until every
 * message taken so far is durable — call it before the batch's commit. The
 * bytes themselves never wait in memory; only `maxInFlight` open files do.
 *
 * @example
 * ```ts
 * const taker = createRawTaker(store.blobs);
 * await session.fetchRaw(uids, (meta, body) => taker.take(body, (raw) => rows.push(rowFor(meta, raw))));
 * await taker.drain(); // every raw message is durable now
 * await commit(rows);
 * ```
 */
export interface RawTaker {
  /** Write `body` to a temp file; `onDurable` runs once the blob is synced and published. */
  take(body: Readable | Buffer, onDurable: (raw: TakenRaw) => void): Promise<void>;
  /** Wait for every take so far; throws the first failure. */
  drain(): Promise<void>;
}

export function createRawTaker(blobs: BlobStore, options: RawTakerOptions = {}): RawTaker {
  const maxInFlight = Math.max(1, options.maxInFlight ?? 16);
  const inFlight = new Set<Promise<void>>();
  let failure: { error: unknown } | null = null;

  return {
    async take(body, onDurable) {
      if (failure) throw failure.error;
      while (inFlight.size >= maxInFlight) await Promise.race(inFlight);
      const { writer, head } = await writeBody(blobs, body);
      const done = writer.finish().then(
        (ref) => onDurable({ ...ref, headers: sniffHeaders(head) }),
        (error: unknown) => {
          failure ??= { error };
        },
      );
      const tracked = done.finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
    },
    async drain() {
      await Promise.all(inFlight);
      if (failure) throw failure.error;
    },
  };
}
