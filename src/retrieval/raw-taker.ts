import type { Readable } from "node:stream";
import type { BlobRef, BlobStore } from "../store/blob-store.js";
import { sniffHeaders, SNIFF_LIMIT, type SniffedHeaders } from "./header-sniffer.js";

/** A raw message written to the blob store, with the header fields sniffed on the way. */
export interface TakenRaw extends BlobRef {
  headers: SniffedHeaders;
}

/**
 * Stream one raw message from the server into the blob store, chunk by chunk
 * (memory does not grow with the message), keeping the first 64 KB to sniff
 * Message-ID and Date for identity matching.
 *
 * @example
 * ```ts
 * const { sha256, size, headers } = await takeRaw(store.blobs, bodyStream);
 * ```
 */
export async function takeRaw(blobs: BlobStore, body: Readable | Buffer): Promise<TakenRaw> {
  if (Buffer.isBuffer(body)) {
    const ref = await blobs.writeBuffer(body);
    return { ...ref, headers: sniffHeaders(body) };
  }
  const writer = await blobs.createWriter();
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
  const ref = await writer.finish();
  return { ...ref, headers: sniffHeaders(Buffer.concat(head)) };
}
