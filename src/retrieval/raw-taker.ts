import type { Readable } from "node:stream";
import type { RawSpool, SpoolRef, SpoolSegment } from "../store/raw-spool.js";
import { sniffHeaders, SNIFF_LIMIT, type SniffedHeaders } from "./header-sniffer.js";

/** A raw message appended to the batch's spool segment, with the header fields sniffed on the way. */
export interface TakenRaw {
  sha256: string;
  size: number;
  spool: SpoolRef;
  headers: SniffedHeaders;
}

/**
 * Takes the messages of one batch into one spool segment: `take` appends a
 * message (hashing it on the way; the bytes never wait in memory), `drain`
 * makes the whole segment durable with one fsync — call it before the
 * batch's commit. After the commit, `keep` the segment when rows point into
 * it, or `discard` it when none can (nothing new was inserted, or the
 * download failed before any commit). When a commit fails, keep it: an
 * unreferenced segment is swept later, a referenced one must never go.
 *
 * @example
 * ```ts
 * const taker = createRawTaker(store.spool);
 * try {
 *   await session.fetchRaw(uids, (meta, body) => taker.take(body, (raw) => rows.push(rowFor(meta, raw))));
 *   await taker.drain(); // every raw message is durable now
 * } catch (error) { await taker.discard(); throw error; }
 * const { inserted } = await commit(rows);
 * await (inserted.length > 0 ? taker.keep() : taker.discard());
 * ```
 */
export interface RawTaker {
  /** Append `body`; `onTaken` runs with where it went (durable only after `drain`). */
  take(body: Readable | Buffer, onTaken: (raw: TakenRaw) => void): Promise<void>;
  /** Make everything taken so far durable. */
  drain(): Promise<void>;
  /** Close the segment and leave it for the parser. */
  keep(): Promise<void>;
  /** Close and delete the segment: no committed row points into it. */
  discard(): Promise<void>;
}

export function createRawTaker(spool: RawSpool): RawTaker {
  let segment: Promise<SpoolSegment> | null = null;
  // Appends go one after another: each message's offset is where the previous one ended.
  let last: Promise<unknown> = Promise.resolve();

  return {
    take(body, onTaken) {
      const next = last.then(async () => {
        segment ??= spool.create();
        const raw = await (await segment).append(body, SNIFF_LIMIT);
        onTaken({ sha256: raw.sha256, size: raw.size, spool: { segment: raw.segment, offset: raw.offset }, headers: sniffHeaders(raw.head) });
      });
      last = next.catch(() => undefined);
      return next;
    },
    async drain() {
      await last;
      if (segment !== null) await (await segment).sync();
    },
    async keep() {
      await last;
      if (segment !== null) await (await segment).close();
    },
    async discard() {
      await last;
      if (segment !== null) await (await segment.catch(() => null))?.discard();
    },
  };
}

/** One batch of a retrieval, for {@link runBatches}. */
export interface Batch {
  /** Take the batch's messages through `taker` (uses the server connection). */
  fetch(taker: RawTaker): Promise<void>;
  /** Whether anything was taken (nothing to commit otherwise). */
  took(): boolean;
  /** Store what was taken, in one transaction (the database only). */
  commit(): Promise<{ inserted: readonly string[] }>;
  /** Mark seen, delete or move on the server; runs only once the batch committed. */
  after(): Promise<void>;
}

/**
 * Run a retrieval's batches in order. With `overlap`, batch k's fsync and
 * commit run while batch k+1 downloads, and batch k's after-action follows
 * that download (the connection is free again); commits stay in batch order
 * and no after-action ever precedes its batch's commit. Every segment is
 * settled: kept when committed rows point into it, deleted when none can,
 * kept for the sweep when a commit failed (it may have committed before failing).
 *
 * @example
 * ```ts
 * await runBatches(store.spool, chunks(plan, 100).map((uids) => imapBatch(uids)), { overlap: true });
 * ```
 */
export async function runBatches(spool: RawSpool, batches: Iterable<Batch>, options: { overlap: boolean }): Promise<void> {
  let committing: { batch: Batch; committed: Promise<boolean> } | null = null;
  for (const batch of batches) {
    const taker = createRawTaker(spool);
    if (!options.overlap) {
      await fetchInto(batch, taker);
      if (await settle(batch, taker)) await batch.after();
      continue;
    }
    const previous: { batch: Batch; committed: Promise<boolean> } | null = committing;
    committing = null;
    const [fetched, settled] = await Promise.allSettled([fetchInto(batch, taker), previous?.committed ?? Promise.resolve(false)]);
    try {
      if (settled.status === "rejected") throw settled.reason;
      if (settled.value) await (previous as { batch: Batch }).batch.after();
    } catch (error) {
      // Nothing of this batch was committed: its segment can go.
      if (fetched.status === "fulfilled") await taker.discard().catch(() => undefined);
      throw error;
    }
    if (fetched.status === "rejected") throw fetched.reason;
    const committed = settle(batch, taker);
    committed.catch(() => undefined);
    committing = { batch, committed };
  }
  const last = committing as { batch: Batch; committed: Promise<boolean> } | null;
  if (last !== null && (await last.committed)) await last.batch.after();
}

/** Download one batch into its segment; on failure the segment is deleted (nothing points into it). */
async function fetchInto(batch: Batch, taker: RawTaker): Promise<void> {
  try {
    await batch.fetch(taker);
  } catch (error) {
    await taker.discard().catch(() => undefined);
    throw error;
  }
}

/** Make the segment durable, commit, and keep or delete the segment. `true` once committed. */
async function settle(batch: Batch, taker: RawTaker): Promise<boolean> {
  try {
    await taker.drain();
  } catch (error) {
    await taker.discard().catch(() => undefined);
    throw error;
  }
  if (!batch.took()) {
    await taker.discard();
    return false;
  }
  let inserted: readonly string[];
  try {
    ({ inserted } = await batch.commit());
  } catch (error) {
    await taker.keep().catch(() => undefined);
    throw error;
  }
  await (inserted.length > 0 ? taker.keep() : taker.discard());
  return true;
}
