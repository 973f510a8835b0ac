import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { text } from "node:stream/consumers";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { loadReceivedMessage } from "../../src/delivery/received-message.js";
import { parseRaw } from "../../src/mime/parse-raw.js";
import { createMessageProcessor } from "../../src/retrieval/message-processor.js";
import { createRawTaker, runBatches, type Batch } from "../../src/retrieval/raw-taker.js";
import { createRawSpool, type RawSpool } from "../../src/store/raw-spool.js";
import type { TakenMessage } from "../../src/store/message-repository.js";
import { sourceKey } from "../../src/store/source-key.js";
import type { Store } from "../../src/store/store.js";
import { createAccount } from "../store/fixtures.js";
import { DIALECTS, openTestStore } from "../store/test-databases.js";
import { makeMessage } from "./retrieval-fixture.js";

/*
 * Taking appends raw messages to one spool segment per batch, and the raw
 * bytes stay there for good: the parser reads them in place, and a segment
 * goes only when nothing points into it. These tests hold the raw bytes to
 * that: readable at every step, never lost, never silently damaged.
 */
describe.each(DIALECTS)("raw spool on %s", (dialect) => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  async function open(): Promise<{ store: Store; accountId: string }> {
    const opened = await openTestStore(dialect);
    cleanup = opened.cleanup;
    return { store: opened.store, accountId: await createAccount(opened.store) };
  }

  /** Take `raws` as one batch the way a retrieval does; resolves the new message ids. */
  async function takeBatch(store: Store, accountId: string, raws: string[], prefix = "u"): Promise<string[]> {
    const rows: TakenMessage[] = [];
    let inserted: readonly string[] = [];
    await runBatches(store.spool, [{
      fetch: async (taker) => {
        for (const [i, raw] of raws.entries()) {
          await taker.take(Buffer.from(raw), (taken) => {
            const uidl = `${prefix}${i}`;
            rows.push({ accountId, sourceKey: sourceKey({ protocol: "pop3", uidl }), folder: null, uidValidity: null, uid: null, uidl, rawSha256: taken.sha256, size: taken.size, spool: taken.spool, internalDate: null, flags: [], messageIdHeader: taken.headers.messageId, sentDate: taken.headers.date });
          });
        }
      },
      took: () => rows.length > 0,
      commit: async () => ({ inserted: (inserted = (await store.transaction((trx) => store.messages.insertTaken(trx, rows))).inserted) }),
      after: async () => undefined,
    }], { overlap: false });
    return [...inserted];
  }

  const processorFor = (store: Store) => createMessageProcessor({ store, parse: (source, settings) => parseRaw(source, { blobDir: store.blobs.dir, ...settings }) });
  const account = (id: string) => ({ id, sanitize: true, inlineImages: false });
  const segments = (store: Store) => readdirSync(store.spool.dir).filter((name) => name.endsWith(".seg"));

  it("keeps a taken message in its segment, readable before and after the parse, with no second copy", async () => {
    const { store, accountId } = await open();
    const raws = [makeMessage(1), makeMessage(2), makeMessage(3)];
    const ids = await takeBatch(store, accountId, raws);
    expect(ids).toHaveLength(3);
    expect(segments(store)).toHaveLength(1);
    const locations = await store.messages.rawLocations(ids);
    for (const [i, id] of ids.entries()) {
      const location = locations.get(id)!;
      expect(location.spool?.segment).toBe(segments(store)[0].slice(0, -4));
      expect(await text(store.openRaw(location))).toBe(raws[i]);
    }

    const result = await processorFor(store).process(account(accountId), ids);
    expect(result).toEqual({ parsed: 3, parseErrors: 0 });
    expect(segments(store)).toHaveLength(1);
    const after = await store.messages.rawLocations(ids);
    for (const [i, id] of ids.entries()) {
      const location = after.get(id)!;
      expect(location).toEqual(locations.get(id));
      expect(await store.blobs.has(location.rawSha256)).toBe(false);
      expect(await text(store.openRaw(location))).toBe(raws[i]);
    }
    expect((await store.messages.get(ids[1])).subject).toBe("Message 2");
    // What an in-process handler gets reads the same range.
    expect(await text((await loadReceivedMessage(store, "event-1", ids[2])).openRaw())).toBe(raws[2]);
  });

  it("deletes the segment of a batch whose messages were all stored already, and keeps one that parsed messages point into", async () => {
    const { store, accountId } = await open();
    const raws = [makeMessage(1), makeMessage(2)];
    const first = await takeBatch(store, accountId, raws);
    // The same UIDLs again: nothing new is inserted, so nothing may point into the new segment.
    expect(await takeBatch(store, accountId, raws)).toEqual([]);
    expect(segments(store)).toHaveLength(1);
    await processorFor(store).processPending(async () => account(accountId));
    expect(segments(store)).toHaveLength(1);
    const locations = await store.messages.rawLocations(first);
    expect(await text(store.openRaw(locations.get(first[1])!))).toBe(raws[1]);
  });

  it("names the missing file when a segment is gone", async () => {
    const { store, accountId } = await open();
    const [id] = await takeBatch(store, accountId, [makeMessage(5)]);
    const location = (await store.messages.rawLocations([id])).get(id)!;
    rmSync(store.spool.path(location.spool!.segment));
    expect(() => store.openRaw(location)).toThrow(/segment file .* is missing; restore the blobs directory/);
    await expect(processorFor(store).process(account(accountId), [id])).rejects.toThrow(/does not exist/);
    expect((await store.messages.get(id)).status).toBe("pending");
  });

  it("refuses to parse stored bytes that no longer match their hash, and keeps the message pending", async () => {
    const { store, accountId } = await open();
    const [id] = await takeBatch(store, accountId, [makeMessage(7)]);
    const location = (await store.messages.rawLocations([id])).get(id)!;
    const file = store.spool.path(location.spool!.segment);
    writeFileSync(file, makeMessage(8).padEnd(location.size, " ").slice(0, location.size));
    await expect(processorFor(store).process(account(accountId), [id])).rejects.toThrow(/raw file is damaged; restore it from a backup/);
    expect((await store.messages.get(id)).status).toBe("pending");
    expect(segments(store)).toHaveLength(1);
  });

  it("records the SHA-256, size and byte range of every message of a batch, small and large, in take order", async () => {
    const { store, accountId } = await open();
    const raws = [makeMessage(40), makeMessage(41) + "x".repeat(300 * 1024), makeMessage(42), makeMessage(43) + "y".repeat(1024 * 1024), makeMessage(44)];
    const ids = await takeBatch(store, accountId, raws);
    expect(ids).toHaveLength(5);
    const locations = await store.messages.rawLocations(ids);
    for (const [i, id] of ids.entries()) {
      const location = locations.get(id)!;
      expect(location.rawSha256).toBe(createHash("sha256").update(raws[i]).digest("hex"));
      expect(location.size).toBe(Buffer.byteLength(raws[i]));
      expect(await text(store.openRaw(location))).toBe(raws[i]);
    }
    expect(await processorFor(store).process(account(accountId), ids)).toEqual({ parsed: 5, parseErrors: 0 });
  });

  it("reports a damaged segment under several messages as one rejection of the run, never as an unhandled one", async () => {
    const { store, accountId } = await open();
    const raws = Array.from({ length: 12 }, (_, i) => makeMessage(20 + i));
    const ids = await takeBatch(store, accountId, raws);
    const location = (await store.messages.rawLocations([ids[0]])).get(ids[0])!;
    const file = store.spool.path(location.spool!.segment);
    writeFileSync(file, "x".repeat(raws.join("").length * 2));
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      await expect(processorFor(store).process(account(accountId), ids)).rejects.toThrow(/raw file is damaged; restore it from a backup/);
      // Give any stray rejection a turn of the event loop to surface.
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
    expect(unhandled).toEqual([]);
    for (const id of ids) expect((await store.messages.get(id)).status).toBe("pending");
  });

  it("sweeps a segment nothing points into once it is an hour old, and leaves a fresh one (a batch still downloading)", async () => {
    const { store, accountId } = await open();
    const stale = await store.spool.create();
    await stale.append(Buffer.from(makeMessage(1)), 0);
    await stale.close();
    const hourAgo = new Date(Date.now() - 61 * 60 * 1000);
    utimesSync(store.spool.path(stale.name), hourAgo, hourAgo);
    const fresh = createRawTaker(store.spool);
    await fresh.take(Buffer.from(makeMessage(2)), () => undefined);
    await fresh.drain();
    // A referenced segment stays however old it is.
    const [pending] = await takeBatch(store, accountId, [makeMessage(3)]);
    const referenced = (await store.messages.rawLocations([pending])).get(pending)!.spool!.segment;
    utimesSync(store.spool.path(referenced), hourAgo, hourAgo);
    expect(segments(store)).toHaveLength(3);

    await processorFor(store).processPending(async () => account(accountId));
    // The stale orphan was swept; the referenced one (parsed now) and the fresh one stay.
    expect(segments(store)).toHaveLength(2);
    expect(segments(store)).toContain(`${referenced}.seg`);
    expect(segments(store)).not.toContain(`${stale.name}.seg`);
    await fresh.discard();
    expect(segments(store)).toEqual([`${referenced}.seg`]);
  });
});

describe("runBatches with overlap", () => {
  const made: string[] = [];
  const tmp = () => {
    const dir = mkdtempSync(join(tmpdir(), "inbound-spool-"));
    made.push(dir);
    return dir;
  };
  afterAll(() => {
    for (const dir of made) rmSync(dir, { recursive: true, force: true });
  });

  function recordingBatch(log: string[], k: number, options: { failCommit?: boolean } = {}): Batch {
    return {
      fetch: async (taker) => {
        log.push(`fetch ${k} start`);
        await taker.take(Buffer.from(`message ${k}`), () => undefined);
        await new Promise((resolve) => setTimeout(resolve, 20));
        log.push(`fetch ${k} end`);
      },
      took: () => true,
      commit: async () => {
        log.push(`commit ${k} start`);
        await new Promise((resolve) => setTimeout(resolve, 5));
        if (options.failCommit) throw new Error(`commit ${k} failed`);
        log.push(`commit ${k} end`);
        return { inserted: [`id${k}`] };
      },
      after: async () => {
        log.push(`after ${k}`);
      },
    };
  }

  /** A spool that logs `sync k` once batch k's segment is durable (segments are made in batch order). */
  function recordingSpool(log: string[]): RawSpool {
    const spool = createRawSpool(tmp());
    let made = 0;
    return {
      ...spool,
      async create() {
        const k = made++;
        const segment = await spool.create();
        return { ...segment, sync: async () => { await segment.sync(); log.push(`sync ${k}`); } };
      },
    };
  }

  it("commits in order, overlaps a commit with the next download, and never acts on the server before the commit", async () => {
    const log: string[] = [];
    const spool = recordingSpool(log);
    await runBatches(spool, [0, 1, 2].map((k) => recordingBatch(log, k)), { overlap: true });
    const at = (entry: string) => log.indexOf(entry);
    for (const k of [0, 1, 2]) {
      expect(at(`commit ${k} end`)).toBeLessThan(at(`after ${k}`));
      expect(at(`fetch ${k} end`)).toBeLessThan(at(`commit ${k} start`));
      // The raw bytes are fsynced before the commit that points at them (and so before any after-action).
      expect(at(`fetch ${k} end`)).toBeLessThan(at(`sync ${k}`));
      expect(at(`sync ${k}`)).toBeLessThan(at(`commit ${k} start`));
    }
    expect(at("commit 0 end")).toBeLessThan(at("commit 1 start"));
    expect(at("commit 1 end")).toBeLessThan(at("commit 2 start"));
    // Batch 0 commits while batch 1 downloads; its after-action waits for that download to end.
    expect(at("commit 0 start")).toBeLessThan(at("fetch 1 end"));
    expect(at("fetch 1 end")).toBeLessThan(at("after 0"));
    expect(at("after 0")).toBeLessThan(at("fetch 2 start"));
    expect(readdirSync(spool.dir)).toHaveLength(3);
  });

  it("stops at a failed commit: no after-action for it, the next batch's segment deleted, the failed one kept for the sweep", async () => {
    const spool = createRawSpool(tmp());
    const log: string[] = [];
    const run = runBatches(spool, [recordingBatch(log, 0), recordingBatch(log, 1, { failCommit: true }), recordingBatch(log, 2), recordingBatch(log, 3)], { overlap: true });
    await expect(run).rejects.toThrow("commit 1 failed");
    expect(log).toContain("after 0");
    expect(log).not.toContain("after 1");
    expect(log).not.toContain("commit 2 start");
    expect(log).not.toContain("fetch 3 start");
    // Segments of batch 0 (committed) and batch 1 (its commit may have landed) stay; batch 2's went.
    expect(readdirSync(spool.dir)).toHaveLength(2);
  });
});
