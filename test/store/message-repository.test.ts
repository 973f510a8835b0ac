import { sql } from "kysely";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isInboundError } from "../../src/core/inbound-error.js";
import { sourceKey } from "../../src/store/source-key.js";
import type { Store } from "../../src/store/store.js";
import { createAccount, takenImap } from "./fixtures.js";
import { DIALECTS, openTestStore } from "./test-databases.js";

describe.each(DIALECTS)("message repository on %s", (dialect) => {
  let store: Store;
  let cleanup: () => Promise<void>;
  let accountId: string;

  beforeEach(async () => {
    ({ store, cleanup } = await openTestStore(dialect));
    accountId = await createAccount(store);
  });
  afterEach(async () => {
    await cleanup();
  });

  it("stores a taken message once and reports a re-insert of the same source key as a duplicate", async () => {
    const first = await store.transaction((trx) => store.messages.insertTaken(trx, [takenImap(accountId, 1), takenImap(accountId, 2)]));
    expect(first.inserted).toHaveLength(2);
    expect(first.duplicates).toBe(0);

    const again = await store.transaction((trx) => store.messages.insertTaken(trx, [takenImap(accountId, 2), takenImap(accountId, 3)]));
    expect(again.inserted).toHaveLength(1);
    expect(again.duplicates).toBe(1);
    expect(await store.messages.countByAccount(accountId)).toBe(3);
  });

  it("counts a source key repeated within one batch once", async () => {
    const result = await store.messages.insertTaken(store.database.db, [takenImap(accountId, 5), takenImap(accountId, 5)]);
    expect(result).toEqual({ inserted: [expect.any(String)], duplicates: 1 });
    expect(await store.messages.countByAccount(accountId)).toBe(1);
  });

  it("keeps the taken fields, pending until parsed", async () => {
    const { inserted } = await store.messages.insertTaken(store.database.db, [takenImap(accountId, 4294967295)]);
    const message = await store.messages.get(inserted[0]);
    expect(message).toMatchObject({
      accountId,
      folder: "INBOX",
      uidValidity: "7",
      uid: 4294967295,
      size: 1000 + 4294967295,
      flags: ["\\Seen"],
      messageIdHeader: "<m4294967295@example.com>",
      sentDate: "2025-01-02T03:00:00.000Z",
      internalDate: "2025-01-02T03:04:05.000Z",
      status: "pending",
      textBody: null,
    });
  });

  it("rolls back the messages of a transaction that fails, so they can be taken again", async () => {
    await expect(
      store.transaction(async (trx) => {
        await store.messages.insertTaken(trx, [takenImap(accountId, 1)]);
        throw new Error("crash before commit");
      }),
    ).rejects.toThrow("crash before commit");
    expect(await store.messages.countByAccount(accountId)).toBe(0);
    const retry = await store.transaction((trx) => store.messages.insertTaken(trx, [takenImap(accountId, 1)]));
    expect(retry.inserted).toHaveLength(1);
  });

  it("lists the UIDs stored for a folder under one UIDVALIDITY and the UIDLs of POP3", async () => {
    await store.messages.insertTaken(store.database.db, [
      takenImap(accountId, 1),
      takenImap(accountId, 9),
      takenImap(accountId, 3, { sourceKey: sourceKey({ protocol: "imap", folder: "INBOX", uidValidity: 8, uid: 3 }), uidValidity: "8" }),
      takenImap(accountId, 4, { sourceKey: sourceKey({ protocol: "imap", folder: "INBOX:odd%_", uidValidity: 7, uid: 4 }), folder: "INBOX:odd%_" }),
      takenImap(accountId, 1000, { sourceKey: sourceKey({ protocol: "pop3", uidl: "abc:1" }), folder: null, uidValidity: null, uid: null, uidl: "abc:1" }),
    ]);
    expect(await store.messages.storedImapUids(accountId, "INBOX", 7)).toEqual(new Set([1, 9]));
    expect(await store.messages.storedImapUids(accountId, "INBOX", "8")).toEqual(new Set([3]));
    expect(await store.messages.storedImapUids(accountId, "INBOX:odd%_", 7n)).toEqual(new Set([4]));
    expect(await store.messages.storedUidls(accountId)).toEqual(new Set(["abc:1"]));
  });

  it("re-links a message seen under a new UIDVALIDITY instead of storing it again", async () => {
    const { inserted } = await store.messages.insertTaken(store.database.db, [takenImap(accountId, 1)]);
    const probe = { messageIdHeader: "<m1@example.com>", size: 1001, sentDate: "2025-01-02T03:00:00Z" };
    const match = await store.messages.findResyncMatch(accountId, "INBOX", probe);
    expect(match).toEqual({ found: true, messageId: inserted[0] });

    const newKey = sourceKey({ protocol: "imap", folder: "INBOX", uidValidity: 99, uid: 50 });
    expect(await store.messages.linkSource(store.database.db, accountId, newKey, inserted[0])).toEqual({ linked: true });
    expect(await store.messages.linkSource(store.database.db, accountId, newKey, inserted[0])).toEqual({ linked: false });
    expect(await store.messages.storedImapUids(accountId, "INBOX", 99)).toEqual(new Set([50]));
    expect(await store.messages.countByAccount(accountId)).toBe(1);
    // The re-linked key is now a duplicate for insertTaken too.
    const again = await store.messages.insertTaken(store.database.db, [takenImap(accountId, 50, { sourceKey: newKey })]);
    expect(again).toEqual({ inserted: [], duplicates: 1 });
  });

  it("finds no resync match for a different size, date, folder or a missing Message-ID", async () => {
    await store.messages.insertTaken(store.database.db, [takenImap(accountId, 1), takenImap(accountId, 2, { messageIdHeader: null })]);
    const base = { messageIdHeader: "<m1@example.com>", size: 1001, sentDate: "2025-01-02T03:00:00Z" };
    expect(await store.messages.findResyncMatch(accountId, "INBOX", { ...base, size: 1 })).toEqual({ found: false });
    expect(await store.messages.findResyncMatch(accountId, "INBOX", { ...base, sentDate: null })).toEqual({ found: false });
    expect(await store.messages.findResyncMatch(accountId, "Archive", base)).toEqual({ found: false });
    expect(await store.messages.findResyncMatch(accountId, "INBOX", { messageIdHeader: null, size: 1002, sentDate: base.sentDate })).toEqual({ found: false });
  });

  it("saves parse results and attachments, marking the message parsed", async () => {
    const { inserted } = await store.messages.insertTaken(store.database.db, [takenImap(accountId, 1)]);
    const id = inserted[0];
    expect((await store.messages.pendingForProcessing(10)).map((m) => m.id)).toEqual([id]);
    await store.transaction((trx) =>
      store.messages.saveParsed(
        trx,
        id,
        {
          subject: "Hello",
          from: [{ name: "Ann", address: "ann@example.com" }],
          to: [{ name: "", address: "support@example.com" }],
          cc: [], bcc: [], replyTo: [],
          headers: [{ key: "subject", line: "Subject: Hello" }],
          textBody: "hi",
          htmlBody: "<p>hi</p>",
          sanitizedHtml: "<p>hi</p>",
        },
        [
          { filename: "a.pdf", contentType: "application/pdf", size: 10, contentId: null, disposition: "attachment", sha256: "b".repeat(64) },
          { filename: null, contentType: "image/png", size: 20, contentId: "<img1>", disposition: "inline", sha256: "c".repeat(64) },
        ],
      ),
    );
    const message = await store.messages.get(id);
    expect(message).toMatchObject({ status: "parsed", subject: "Hello", textBody: "hi", parseError: null, from: [{ name: "Ann", address: "ann@example.com" }] });
    expect(message.processedAt).not.toBeNull();
    const attachments = await store.messages.attachments(id);
    expect(attachments.map((a) => [a.position, a.filename, a.disposition])).toEqual([[0, "a.pdf", "attachment"], [1, null, "inline"]]);
    expect(await store.messages.getAttachment(attachments[1].id)).toMatchObject({ contentId: "<img1>", size: 20 });
    expect(await store.messages.pendingForProcessing(10)).toEqual([]);
  });

  it("marks a message failed with its parse error while keeping what was parsed", async () => {
    const { inserted } = await store.messages.insertTaken(store.database.db, [takenImap(accountId, 1)]);
    await store.messages.saveParsed(store.database.db, inserted[0], {
      subject: "Partly", from: [], to: [], cc: [], bcc: [], replyTo: [], headers: [], textBody: "part", htmlBody: null, sanitizedHtml: null,
      parseError: "bad MIME boundary",
    }, []);
    expect(await store.messages.get(inserted[0])).toMatchObject({ status: "failed", parseError: "bad MIME boundary", subject: "Partly", textBody: "part" });
  });

  it("pages newest first with a cursor", async () => {
    const ids: string[] = [];
    for (let uid = 1; uid <= 5; uid++) ids.push(...(await store.messages.insertTaken(store.database.db, [takenImap(accountId, uid)])).inserted);
    const first = await store.messages.list({ accountId, limit: 2 });
    expect(first.items.map((m) => m.id)).toEqual([ids[4], ids[3]]);
    const second = await store.messages.list({ accountId, limit: 2, cursor: first.nextCursor });
    expect(second.items.map((m) => m.id)).toEqual([ids[2], ids[1]]);
    const last = await store.messages.list({ accountId, limit: 2, cursor: second.nextCursor });
    expect(last.items.map((m) => m.id)).toEqual([ids[0]]);
    expect(last.nextCursor).toBeNull();
  });

  it("throws MESSAGE_NOT_FOUND and ATTACHMENT_NOT_FOUND for unknown ids", async () => {
    expect(isInboundError(await store.messages.get("nope").catch((e: unknown) => e), "MESSAGE_NOT_FOUND")).toBe(true);
    expect(isInboundError(await store.messages.rawLocation("nope").catch((e: unknown) => e), "MESSAGE_NOT_FOUND")).toBe(true);
    expect(isInboundError(await store.messages.getAttachment("nope").catch((e: unknown) => e), "ATTACHMENT_NOT_FOUND")).toBe(true);
    const saved = await store.messages.saveParsed(store.database.db, "nope", {
      subject: null, from: [], to: [], cc: [], bcc: [], replyTo: [], headers: [], textBody: null, htmlBody: null, sanitizedHtml: null,
    }, []).catch((e: unknown) => e);
    expect(isInboundError(saved, "MESSAGE_NOT_FOUND")).toBe(true);
  });

  it("deletes an account's messages and sources with the account", async () => {
    await store.messages.insertTaken(store.database.db, [takenImap(accountId, 1)]);
    await store.accounts.remove(accountId);
    expect(await store.database.db.selectFrom("message_sources").selectAll().execute()).toEqual([]);
    expect(await store.database.db.selectFrom("messages").selectAll().execute()).toEqual([]);
  });
});

describe("message repository under concurrent writers on postgres", () => {
  let store: Store;
  let cleanup: () => Promise<void>;
  afterEach(async () => {
    await cleanup();
  });

  it("stores a message once when two transactions insert the same source key at the same time", async () => {
    ({ store, cleanup } = await openTestStore("postgres"));
    const accountId = await createAccount(store);
    const db = store.database.db;
    let releaseA!: () => void;
    const aMayCommit = new Promise<void>((resolve) => (releaseA = resolve));
    let aInserted!: () => void;
    const aHasInserted = new Promise<void>((resolve) => (aInserted = resolve));

    const a = store.transaction(async (trx) => {
      const result = await store.messages.insertTaken(trx, [takenImap(accountId, 1)]);
      aInserted();
      await aMayCommit; // hold the uncommitted ledger row while B tries the same key
      return result;
    });
    await aHasInserted;
    const b = store.transaction((trx) => store.messages.insertTaken(trx, [takenImap(accountId, 1)]));
    // Wait until B is really blocked on A's uncommitted ledger row, then let A commit.
    let bBlocked = false;
    for (let i = 0; i < 400 && !bBlocked; i++) {
      const waiting = await sql<{ pid: number }>`select pid from pg_stat_activity
        where wait_event_type = 'Lock' and query like 'insert into "message_sources"%' and datname = current_database()`.execute(db);
      bBlocked = waiting.rows.length > 0;
      if (!bBlocked) await new Promise((r) => setTimeout(r, 25));
    }
    releaseA();
    expect(bBlocked).toBe(true);
    const [ra, rb] = await Promise.all([a, b]);
    expect(ra).toEqual({ inserted: [expect.any(String)], duplicates: 0 });
    expect(rb).toEqual({ inserted: [], duplicates: 1 });
    expect(await store.messages.countByAccount(accountId)).toBe(1);
  });
});
