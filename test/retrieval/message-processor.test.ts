import { createHash } from "node:crypto";
import { rm } from "node:fs/promises";
import { afterEach, describe, expect, it } from "vitest";
import { createParsePool } from "../../src/mime/parse-pool.js";
import { parseRaw, type RawSource } from "../../src/mime/parse-raw.js";
import { SANITIZER_VERSION } from "../../src/mime/sanitize-html.js";
import { createMessageProcessor } from "../../src/retrieval/message-processor.js";
import type { TakenMessage } from "../../src/store/message-repository.js";
import { sourceKey } from "../../src/store/source-key.js";
import type { Store } from "../../src/store/store.js";
import { createAccount } from "../store/fixtures.js";
import { DIALECTS, openTestStore } from "../store/test-databases.js";
import { makeMessage } from "./retrieval-fixture.js";

describe.each(DIALECTS)("message processor on %s", (dialect) => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  /** A fresh store (cleaned up after the test) with one account. */
  async function openWithAccount(): Promise<{ store: Store; accountId: string }> {
    const opened = await openTestStore(dialect);
    cleanup = opened.cleanup;
    return { store: opened.store, accountId: await createAccount(opened.store) };
  }

  /** Parsing in this thread, as a processor's `parse`. */
  const inProcess = (store: Store) => (source: RawSource, settings: { sanitize: boolean; inlineImages: boolean }) => parseRaw(source, { blobDir: store.blobs.dir, ...settings });

  async function storePending(store: Store, accountId: string, count: number): Promise<string[]> {
    const rows: TakenMessage[] = [];
    for (let n = 1; n <= count; n++) {
      const raw = Buffer.from(makeMessage(n));
      const blob = await store.blobs.writeBuffer(raw);
      rows.push({ accountId, sourceKey: sourceKey({ protocol: "pop3", uidl: `u${n}` }), folder: null, uidValidity: null, uid: null, uidl: `u${n}`, rawSha256: blob.sha256, size: blob.size, internalDate: null, flags: [], messageIdHeader: null, sentDate: null });
    }
    return store.transaction(async (trx) => (await store.messages.insertTaken(trx, rows)).inserted);
  }

  it("gives each message one message.received event when two passes parse the same pending messages at once", async () => {
    const { store, accountId } = await openWithAccount();
    const ids = await storePending(store, accountId, 12);
    const parse = inProcess(store);
    const account = { id: accountId, sanitize: true, inlineImages: false };
    // Two processors stand for two processes (or a catch-up pass beside a run).
    const a = createMessageProcessor({ store, parse });
    const b = createMessageProcessor({ store, parse });
    await Promise.all([a.processPending(async () => account), b.processPending(async () => account), a.process(account, ids)]);
    const events = await store.database.db.selectFrom("outbox").select("payload_json").where("type", "=", "message.received").execute();
    const perMessage = new Map<string, number>();
    for (const e of events) {
      const id = (JSON.parse(e.payload_json) as { messageId: string }).messageId;
      perMessage.set(id, (perMessage.get(id) ?? 0) + 1);
    }
    expect([...perMessage.keys()].sort()).toEqual([...ids].sort());
    expect([...perMessage.values()].every((n) => n === 1)).toBe(true);
    expect((await store.messages.pendingForProcessing(100, accountId))).toHaveLength(0);
  });

  it("stores a message whose parser crashed as failed, raw kept and announced, and parses the rest", async () => {
    const { store, accountId } = await openWithAccount();
    const ids = await storePending(store, accountId, 5);
    const locations = await store.messages.rawLocations(ids);
    const doomed = locations.get(ids[2])!.rawSha256;
    // What a parser bug or a dead worker looks like from here: the parse rejects with a plain error.
    const parse = async (source: RawSource, settings: { sanitize: boolean; inlineImages: boolean }) => {
      if (source.sha256 === doomed || source.path.endsWith(doomed)) throw new TypeError("Cannot read properties of undefined (reading 'headers')");
      return inProcess(store)(source, settings);
    };
    const result = await createMessageProcessor({ store, parse }).process({ id: accountId, sanitize: true, inlineImages: false }, ids);
    // `parsed` counts every message the pass finished, the failed one included.
    expect(result).toEqual({ parsed: 5, parseErrors: 1 });

    const crashed = await store.messages.get(ids[2]);
    expect(crashed.status).toBe("failed");
    expect(crashed.parseError).toContain("Cannot read properties of undefined");
    const raw = await new Promise<Buffer>((resolve, reject) => {
      const parts: Buffer[] = [];
      store.openRaw(locations.get(ids[2])!).on("data", (c: Buffer) => parts.push(c)).on("end", () => resolve(Buffer.concat(parts))).on("error", reject);
    });
    expect(createHash("sha256").update(raw).digest("hex")).toBe(doomed);
    expect(raw.toString()).toContain("Subject: Message 3");
    for (const id of [ids[0], ids[1], ids[3], ids[4]]) expect((await store.messages.get(id)).status).toBe("parsed");
    const announced = (await store.database.db.selectFrom("outbox").select("payload_json").where("type", "=", "message.received").execute())
      .map((e) => (JSON.parse(e.payload_json) as { messageId: string }).messageId);
    expect(announced.sort()).toEqual([...ids].sort());
    expect(await store.messages.pendingForProcessing(100, accountId)).toHaveLength(0);
  });

  it("leaves the messages pending, not failed, when the parse pool closes under them, and a later pass parses them", async () => {
    const { store, accountId } = await openWithAccount();
    const ids = await storePending(store, accountId, 30);
    const account = { id: accountId, sanitize: true, inlineImages: false };
    const pool = createParsePool({ size: 1 });
    let closing: Promise<void> | undefined;
    // The application shuts down (inbound.close()) while a pass is parsing: the pool closes after the first group is saved.
    const processor = createMessageProcessor({ store, parse: (source, settings) => pool.parse(source, { blobDir: store.blobs.dir, ...settings }), concurrency: 2, onSaved: () => void (closing ??= pool.close()) });
    await expect(processor.process(account, ids)).rejects.toMatchObject({ code: "ABORTED" });
    await closing;

    const statuses = await Promise.all(ids.map(async (id) => (await store.messages.get(id)).status));
    expect(statuses).not.toContain("failed");
    const pending = await store.messages.pendingForProcessing(100, accountId);
    expect(pending.length).toBeGreaterThan(0);
    expect(pending.length + statuses.filter((s) => s === "parsed").length).toBe(30);

    const again = await createMessageProcessor({ store, parse: inProcess(store) }).processPending(async () => account, accountId);
    expect(again).toEqual({ parsed: pending.length, parseErrors: 0 });
    for (const id of ids) expect((await store.messages.get(id)).status).toBe("parsed");
    const announced = await store.database.db.selectFrom("outbox").select("id").where("type", "=", "message.received").execute();
    expect(announced).toHaveLength(30);
  });

  it("parses the pending messages behind a full page of unreadable ones, and reports those in one warning", async () => {
    const { store, accountId } = await openWithAccount();
    const ids = await storePending(store, accountId, 105);
    // The raw files of the first 100 (a whole page) are gone: those messages cannot be parsed now.
    const locations = await store.messages.rawLocations(ids);
    for (const id of ids.slice(0, 100)) await rm(store.blobs.path(locations.get(id)!.rawSha256));
    const processor = createMessageProcessor({ store, parse: inProcess(store) });
    expect(await processor.processPending(async () => ({ id: accountId, sanitize: true, inlineImages: false }), accountId)).toEqual({ parsed: 5, parseErrors: 0 });
    for (const id of ids.slice(100)) expect((await store.messages.get(id)).status).toBe("parsed");
    expect(await store.messages.pendingForProcessing(200, accountId)).toHaveLength(100);
    const warnings = (await store.events.list({ accountId })).filter((e) => e.type === "messages.unreadable");
    expect(warnings).toEqual([expect.objectContaining({ level: "warn", data: { code: expect.stringMatching(/BLOB_NOT_FOUND|STORE_FAILED/) } })]);
  });

  it("holds few parsed results in memory while an earlier parse is slow", async () => {
    const { store, accountId } = await openWithAccount();
    const ids = await storePending(store, accountId, 120);
    const parse = inProcess(store);
    let finished = 0;
    let releaseFirst!: () => void;
    const first = new Promise<void>((resolve) => (releaseFirst = resolve));
    let finishedWhileFirstRan = -1;
    let calls = 0;
    const processor = createMessageProcessor({
      store,
      concurrency: 4,
      parse: async (source, settings) => {
        if (calls++ === 0) {
          // The head of the order: everything parsed after it must wait for it to be saved.
          await first;
          finishedWhileFirstRan = finished;
        }
        const parsed = await parse(source, settings);
        finished++;
        return parsed;
      },
    });
    const processing = processor.process({ id: accountId, sanitize: true, inlineImages: false }, ids);
    // Let the other slots run until they stop making progress, then let the first one finish.
    let seen = -1;
    while (seen !== finished) {
      seen = finished;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    releaseFirst();
    expect(await processing).toEqual({ parsed: 120, parseErrors: 0 });
    // At most 32 results wait (MAX_UNSAVED), plus what the other 3 slots had in hand.
    expect(finishedWhileFirstRan).toBeGreaterThan(0);
    expect(finishedWhileFirstRan).toBeLessThanOrEqual(32 + 3);
  });

  it("keeps the parser's attachment ids, so inline-image URLs in the sanitized HTML resolve", async () => {
    const { store, accountId } = await openWithAccount();
    const raw = ["From: a@example.com", "Subject: inline", "MIME-Version: 1.0", 'Content-Type: multipart/related; boundary="r"', "", "--r", "Content-Type: text/html", "", '<p><img src="cid:logo@x"></p>', "--r", "Content-Type: image/png", "Content-ID: <logo@x>", "Content-Transfer-Encoding: base64", "", "iVBORw0KGgo=", "--r--", ""].join("\r\n");
    const blob = await store.blobs.writeBuffer(Buffer.from(raw));
    const [id] = await store.transaction(async (trx) => (await store.messages.insertTaken(trx, [{ accountId, sourceKey: "pop3:x", folder: null, uidValidity: null, uid: null, uidl: "x", rawSha256: blob.sha256, size: blob.size, internalDate: null, flags: [], messageIdHeader: null, sentDate: null }])).inserted);
    const processor = createMessageProcessor({ store, parse: inProcess(store) });
    await processor.process({ id: accountId, sanitize: true, inlineImages: true }, [id]);
    const message = await store.messages.get(id);
    const [attachment] = await store.messages.attachments(id);
    expect(message.sanitizedHtml).toContain(`/api/v1/attachments/${attachment.id}/content`);
  });

  it("sanitizes again, from the HTML body, what an older sanitizer let through; inline images still resolve", async () => {
    const { store, accountId } = await openWithAccount();
    const html = '<p onclick="steal()">Hi <img src="cid:logo@x"></p>';
    const raw = ["From: a@example.com", "Subject: inline", "MIME-Version: 1.0", 'Content-Type: multipart/related; boundary="r"', "", "--r", "Content-Type: text/html", "", html, "--r", "Content-Type: image/png", "Content-ID: <logo@x>", "Content-Transfer-Encoding: base64", "", "iVBORw0KGgo=", "--r--", ""].join("\r\n");
    const blob = await store.blobs.writeBuffer(Buffer.from(raw));
    const taken = (n: number) => ({ accountId, sourceKey: `pop3:s${n}`, folder: null, uidValidity: null, uid: null, uidl: `s${n}`, rawSha256: blob.sha256, size: blob.size, internalDate: null, flags: [], messageIdHeader: null, sentDate: null });
    const [old, current] = await store.transaction(async (trx) => (await store.messages.insertTaken(trx, [taken(1), taken(2)])).inserted);
    const [plain] = await storePending(store, accountId, 1);
    const account = { id: accountId, sanitize: true, inlineImages: true };
    const processor = createMessageProcessor({ store, parse: inProcess(store) });
    await processor.process(account, [old, current, plain]);
    const fresh = (await store.messages.get(old)).sanitizedHtml as string;
    const [logo] = await store.messages.attachments(old);
    expect(fresh).toBe(`<p>Hi <img src="/api/v1/attachments/${logo.id}/content" /></p>`);
    const versions = async () => (await store.database.db.selectFrom("messages").select(["id", "sanitizer_version"]).orderBy("id").execute()).map((r) => [r.id, r.sanitizer_version]);
    expect(await versions()).toEqual([[old, SANITIZER_VERSION], [current, SANITIZER_VERSION], [plain, null]].sort());

    // What an older, looser sanitizer stored for the first; the second's is current and stays as it is.
    const db = store.database.db;
    await db.updateTable("messages").set({ sanitized_html: '<p onclick="steal()">Hi</p><script>steal()</script>', sanitizer_version: SANITIZER_VERSION - 1 }).where("id", "=", old).execute();
    await db.updateTable("messages").set({ sanitized_html: "<b>kept</b>" }).where("id", "=", current).execute();
    expect(await processor.processPending(async () => account)).toEqual({ parsed: 0, parseErrors: 0 });
    expect((await store.messages.get(old)).sanitizedHtml).toBe(fresh);
    expect((await store.messages.get(current)).sanitizedHtml).toBe("<b>kept</b>");
    expect(await versions()).toEqual([[old, SANITIZER_VERSION], [current, SANITIZER_VERSION], [plain, null]].sort());
  });

  it.each([
    { graceMs: undefined, label: "10 s (the default)", whileTaking: 0 },
    { graceMs: 30, label: "30 ms", whileTaking: 1 },
  ])("while a retrieval is taking, parses none for $label, then one at a time; all of them again after", async ({ graceMs, whileTaking }) => {
    const { store, accountId } = await openWithAccount();
    const ids = await storePending(store, accountId, 12);
    let running = 0;
    let most = 0;
    const parse = async (source: RawSource, settings: { sanitize: boolean; inlineImages: boolean }) => {
      running++;
      most = Math.max(most, running);
      await new Promise((resolve) => setTimeout(resolve, 15));
      try {
        return await inProcess(store)(source, settings);
      } finally {
        running--;
      }
    };
    const processor = createMessageProcessor({ store, parse, concurrency: 4, takingGraceMs: graceMs });
    const account = { id: accountId, sanitize: false, inlineImages: false };
    const doneTaking = processor.taking();
    const first = processor.process(account, ids.slice(0, 6));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(most).toBe(whileTaking);
    doneTaking();
    const second = processor.process(account, ids.slice(6));
    expect(await first).toEqual({ parsed: 6, parseErrors: 0 });
    expect(await second).toEqual({ parsed: 6, parseErrors: 0 });
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(4);
  });
});
