import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buffer, text } from "node:stream/consumers";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { loadReceivedMessage } from "../../src/delivery/received-message.js";
import { parseRaw } from "../../src/mime/parse-raw.js";
import { createMessageProcessor } from "../../src/retrieval/message-processor.js";
import { createRawTaker, runBatches, type Batch } from "../../src/retrieval/raw-taker.js";
import { createRawSpool, type RawSpool } from "../../src/store/raw-spool.js";
import type { TakenMessage } from "../../src/store/message-repository.js";
import { sourceKey } from "../../src/store/source-key.js";
import { SPOOL_MARKER_FILE } from "../../src/store/spool-marker.js";
import { createStore, type Store } from "../../src/store/store.js";
import { createAccount } from "../store/fixtures.js";
import { createTestDatabase, DIALECTS, openTestStore } from "../store/test-databases.js";
import { makeMessage } from "./retrieval-fixture.js";

/*
 * Taking appends raw messages to one spool segment per batch, and the raw
 * bytes stay there for good: the parser reads them in place, and a segment
 * goes only when nothing points into it. These tests hold the raw bytes to
 * that: readable at every step, never lost, never silently damaged.
 */
describe.each(DIALECTS)("raw spool on %s", (dialect) => {
  // Closed last opened first: a database opened beside another lives in its data directory.
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (let cleanup = cleanups.pop(); cleanup !== undefined; cleanup = cleanups.pop()) await cleanup();
  });

  async function open(): Promise<{ store: Store; accountId: string; dataDir: string; databaseUrl: string | undefined }> {
    const opened = await openTestStore(dialect);
    cleanups.push(opened.cleanup);
    return { store: opened.store, accountId: await createAccount(opened.store), dataDir: opened.target.dataDir, databaseUrl: opened.target.databaseUrl };
  }

  /**
   * Another database on the same data directory: the other dialect, so on
   * PostgreSQL it is the fresh SQLite file a process started without
   * DATABASE_URL opens there.
   */
  async function openBeside(dataDir: string): Promise<Store> {
    const other = await createTestDatabase(dialect === "sqlite" ? "postgres" : "sqlite");
    const store = await createStore({ databaseUrl: other.databaseUrl, dataDir });
    cleanups.push(async () => {
      await store.close();
      await other.cleanup();
    });
    return store;
  }

  /** Take `raws` as one batch the way a retrieval does (into `spool`, the store's own by default); resolves the new message ids. */
  async function takeBatch(store: Store, accountId: string, raws: string[], prefix = "u", spool: RawSpool = store.spool): Promise<string[]> {
    const rows: TakenMessage[] = [];
    let inserted: readonly string[] = [];
    await runBatches(spool, [{
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
  const segments = (store: Store) => readdirSync(store.spool.dir).filter((name) => name.endsWith(".seg")).sort();
  const anHourAgo = () => new Date(Date.now() - 61 * 60 * 1000);
  /** Make every segment look an hour old, so a sweep judges each by its references alone. */
  const ageAll = (store: Store) => {
    for (const name of segments(store)) utimesSync(join(store.spool.dir, name), anHourAgo(), anHourAgo());
  };
  const marker = (store: Store) => JSON.parse(readFileSync(join(store.spool.dir, SPOOL_MARKER_FILE), "utf8")) as { databaseId: string; database: string };
  const hasMarker = (store: Store) => existsSync(join(store.spool.dir, SPOOL_MARKER_FILE));
  const eventsOf = async (store: Store, type: string) => (await store.events.list({ limit: 1000 })).filter((e) => e.type === type);
  /** Each message of `ids` reads back as the matching one of `raws`, byte for byte. */
  async function expectReadBack(store: Store, ids: string[], raws: string[]): Promise<void> {
    const locations = await store.messages.rawLocations(ids);
    for (const [i, id] of ids.entries()) expect((await buffer(store.openRaw(locations.get(id)!))).equals(Buffer.from(raws[i]))).toBe(true);
  }
  /** A segment nothing points into, as a crash before the commit leaves it. */
  async function leftover(spool: RawSpool, raw: string): Promise<string> {
    const segment = await spool.create();
    await segment.append(Buffer.from(raw), 0);
    await segment.close();
    return `${segment.name}.seg`;
  }

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

  it("a catch-up pass over a message whose raw file is damaged warns once, still sweeps, and does not fail", async () => {
    const { store, accountId } = await open();
    const [damaged] = await takeBatch(store, accountId, [makeMessage(9)], "d");
    const location = (await store.messages.rawLocations([damaged])).get(damaged)!;
    writeFileSync(store.spool.path(location.spool!.segment), makeMessage(10).padEnd(location.size, " ").slice(0, location.size));
    const [fine] = await takeBatch(store, accountId, [makeMessage(11)], "f");
    const stale = await store.spool.create();
    await stale.append(Buffer.from(makeMessage(12)), 0);
    await stale.close();
    const hourAgo = new Date(Date.now() - 61 * 60 * 1000);
    utimesSync(store.spool.path(stale.name), hourAgo, hourAgo);

    const processor = processorFor(store);
    // It used to reject, which failed every later run of the account and skipped the sweep.
    expect(await processor.processPending(async () => account(accountId), accountId)).toEqual({ parsed: 1, parseErrors: 0 });
    await processor.processPending(async () => account(accountId), accountId);
    expect((await store.messages.get(damaged)).status).toBe("pending");
    expect((await store.messages.get(fine)).status).toBe("parsed");
    expect(segments(store)).not.toContain(`${stale.name}.seg`);
    const warnings = (await store.events.list({ accountId })).filter((e) => e.type === "messages.unreadable");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: "warn", message: expect.stringContaining("Restore the blobs directory from a backup") });
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

  /*
   * The spool belongs to one database. To any other, every segment looks
   * like an orphan: a process started on the same data directory with
   * another database (DATABASE_URL unset on a PostgreSQL deployment opens a
   * fresh SQLite file there) must not sweep the raw mail away.
   */

  it("lets a second database on the same data directory sweep nothing and take nothing: the first one's old segments survive and read back byte for byte", async () => {
    const { store, accountId, dataDir } = await open();
    const raws = [makeMessage(1), makeMessage(2), makeMessage(3) + "z".repeat(200 * 1024)];
    const ids = [...(await takeBatch(store, accountId, raws.slice(0, 2))), ...(await takeBatch(store, accountId, raws.slice(2), "v"))];
    ageAll(store);
    const before = segments(store);
    expect(before).toHaveLength(2);
    expect(marker(store).databaseId).toBe(store.database.id);

    const intruder = await openBeside(dataDir);
    expect(intruder.database.id).not.toBe(store.database.id);
    expect(intruder.spool.dir).toBe(store.spool.dir);
    // What `inbound serve` does at startup, and every retrieval before it takes.
    await processorFor(intruder).processPending(async () => account(accountId));
    expect(segments(store)).toEqual(before);
    await expectReadBack(store, ids, raws);

    const [warning, ...more] = await eventsOf(intruder, "spool.sweep_skipped");
    expect(more).toEqual([]);
    expect(warning.level).toBe("warn");
    expect(warning.message).toContain(`belongs to another database, ${store.database.id} (${store.database.description})`);
    expect(warning.message).toContain(intruder.database.id);
    expect(warning.message).toMatch(/Point DATABASE_URL at the database the spool belongs to/);
    expect(warning.data).toMatchObject({ code: "STORE_MISMATCH", spoolDatabaseId: store.database.id, databaseId: intruder.database.id });

    // Mail it took would sit where the owner's sweep deletes it: the take is refused before any byte is written.
    const intruderAccount = await createAccount(intruder);
    const refused = await takeBatch(intruder, intruderAccount, [makeMessage(4)]).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: "STORE_MISMATCH", retryable: false });
    expect((refused as Error).message).toContain(store.database.id);
    expect((refused as Error).message).toContain(intruder.database.id);
    expect((refused as Error).message).toMatch(/--data-dir/);
    expect(segments(store)).toEqual(before);
    expect(marker(store).databaseId).toBe(store.database.id);

    // The owner's messages are all there, parse from their segments, and nothing of theirs went.
    expect(await processorFor(store).process(account(accountId), ids)).toEqual({ parsed: 3, parseErrors: 0 });
    expect((await store.messages.get(ids[1])).subject).toBe("Message 2");
    expect(segments(store)).toEqual(before);
  });

  it("still lets the owner sweep a real orphan, and only that, while a database beside it sweeps nothing", async () => {
    const { store, accountId, dataDir } = await open();
    const raws = [makeMessage(11), makeMessage(12)];
    const ids = await takeBatch(store, accountId, raws);
    const orphan = await leftover(store.spool, makeMessage(13));
    ageAll(store);
    const referenced = segments(store).filter((name) => name !== orphan);
    expect(referenced).toHaveLength(1);

    await processorFor(await openBeside(dataDir)).processPending(async () => account(accountId));
    expect(segments(store)).toContain(orphan);

    await processorFor(store).processPending(async () => account(accountId));
    expect(segments(store)).toEqual(referenced);
    await expectReadBack(store, ids, raws);
    expect(await eventsOf(store, "spool.sweep_skipped")).toEqual([]);
  });

  it("gives a spool from before owner markers to its database when every segment in it is that database's", async () => {
    const { store, accountId } = await open();
    // How an earlier version took: straight into the spool directory, no marker.
    const earlier = createRawSpool(store.spool.dir);
    const raws = [makeMessage(21), makeMessage(22), makeMessage(23)];
    const ids = [...(await takeBatch(store, accountId, raws.slice(0, 2), "a", earlier)), ...(await takeBatch(store, accountId, raws.slice(2), "b", earlier))];
    ageAll(store);
    const before = segments(store);
    expect(before).toHaveLength(2);
    expect(hasMarker(store)).toBe(false);

    await processorFor(store).processPending(async () => account(accountId));
    expect(marker(store)).toMatchObject({ databaseId: store.database.id, database: store.database.description });
    expect(segments(store)).toEqual(before);
    await expectReadBack(store, ids, raws);
    const [claimed] = await eventsOf(store, "spool.claimed");
    expect(claimed.data).toMatchObject({ databaseId: store.database.id, segments: 2 });
    expect(await eventsOf(store, "spool.sweep_skipped")).toEqual([]);
    // Owned now: taking works as before.
    expect(await takeBatch(store, accountId, [makeMessage(24)], "c")).toHaveLength(1);
  });

  it("neither sweeps nor claims nor takes into a spool from before owner markers holding a segment its database does not know, and says so", async () => {
    const { store, accountId, dataDir } = await open();
    const earlier = createRawSpool(store.spool.dir);
    const raws = [makeMessage(31), makeMessage(32)];
    const ids = await takeBatch(store, accountId, raws, "a", earlier);
    // Nothing here points into it: another database's mail, newer mail of a restored backup, or a crash's leftover.
    const unknown = await leftover(earlier, makeMessage(33));
    ageAll(store);
    const before = segments(store);

    const processor = processorFor(store);
    await processor.processPending(async () => account(accountId));
    await processor.processPending(async () => account(accountId));
    expect(segments(store)).toEqual(before);
    expect(hasMarker(store)).toBe(false);
    await expectReadBack(store, ids, raws);
    // Reported once, not at every sweep.
    const [warning, ...more] = await eventsOf(store, "spool.sweep_skipped");
    expect(more).toEqual([]);
    expect(warning.level).toBe("warn");
    expect(warning.message).toContain(`1 segment file(s) in it hold nothing this database, ${store.database.id}`);
    expect(warning.message).toContain(unknown);
    expect(warning.message).toMatch(/move those files out of the spool directory/);
    expect(warning.data).toMatchObject({ code: "STORE_MISMATCH", unreferenced: [unknown.slice(0, -4)], unreferencedCount: 1 });

    const refused = await takeBatch(store, accountId, [makeMessage(34)], "b").catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: "STORE_MISMATCH", retryable: true });
    expect((refused as Error).message).toContain(unknown);
    expect(segments(store)).toEqual(before);

    // Once someone has moved it out, the spool is this database's and mail flows again.
    renameSync(join(store.spool.dir, unknown), join(dataDir, unknown));
    await processor.processPending(async () => account(accountId));
    expect(marker(store).databaseId).toBe(store.database.id);
    expect(await takeBatch(store, accountId, [makeMessage(34)], "b")).toHaveLength(1);
    await expectReadBack(store, ids, raws);
  });

  it("sweeps nothing from and takes nothing into a spool whose owner marker is damaged, and names the file", async () => {
    const { store, accountId, dataDir, databaseUrl } = await open();
    const raws = [makeMessage(41)];
    const ids = await takeBatch(store, accountId, raws);
    await leftover(store.spool, makeMessage(42));
    ageAll(store);
    const before = segments(store);
    writeFileSync(join(store.spool.dir, SPOOL_MARKER_FILE), '{"databaseId":');
    // A process started after the damage (one that had read the marker remembers its owner).
    const restarted = await createStore({ databaseUrl, dataDir });
    cleanups.push(() => restarted.close());

    await processorFor(restarted).processPending(async () => account(accountId));
    expect(segments(store)).toEqual(before);
    const refused = await takeBatch(restarted, accountId, [makeMessage(43)], "b").catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: "STORE_FAILED", message: expect.stringContaining(`owner marker ${join(store.spool.dir, SPOOL_MARKER_FILE)} is damaged`) });
    expect(segments(store)).toEqual(before);
    await expectReadBack(restarted, ids, raws);
  });

  it("lets every process of one database use the spool it claimed, whichever claims first", async () => {
    const { store, dataDir, databaseUrl } = await open();
    // A second process on the same database and data directory (scale-out on PostgreSQL, a CLI beside `serve` on SQLite).
    const second = await createStore({ databaseUrl, dataDir });
    cleanups.push(() => second.close());
    expect(second.database.id).toBe(store.database.id);
    expect(await Promise.all([store.spoolOwner.check(), second.spoolOwner.check()])).toEqual([{ state: "owned" }, { state: "owned" }]);
    expect(await eventsOf(store, "spool.claimed")).toHaveLength(1);
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
