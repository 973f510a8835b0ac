import { createHash } from "node:crypto";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { buffer } from "node:stream/consumers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mailboxPool, startDovecot, type DovecotServer } from "../harness/dovecot.js";
import { DIALECTS } from "../store/test-databases.js";
import { rejection } from "../harness/expectations.js";
import { makeMessage, openRetrievalFixture, type RetrievalFixture } from "./retrieval-fixture.js";

async function codeOf(work: Promise<unknown>): Promise<string> {
  return (await rejection(work)).code;
}

describe.each(DIALECTS)("retrieval on %s", (dialect) => {
  let dovecot: DovecotServer;
  let fx: RetrievalFixture;
  let noTls: DovecotServer;

  beforeAll(async () => {
    dovecot = await startDovecot({ users: mailboxPool(40) });
    noTls = await startDovecot({ ssl: false });
    fx = await openRetrievalFixture(dialect, dovecot);
  });
  afterAll(async () => {
    await fx?.close();
    await dovecot?.stop();
    await noTls?.stop();
  });

  const modes = [
    { protocol: "imap", security: "none" },
    { protocol: "imap", security: "starttls" },
    { protocol: "imaps", security: "tls" },
    { protocol: "pop3", security: "none" },
    { protocol: "pop3", security: "starttls" },
    { protocol: "pop3s", security: "tls" },
  ] as const;

  it.each(modes)("logs in over $protocol with security $security and stores every message once", async (mode) => {
    const box = fx.newMailbox();
    for (let i = 1; i <= 3; i++) fx.dovecot.deliver(box.user, makeMessage(i));
    const name = `m-${mode.protocol}-${mode.security}`;
    await fx.inbound.addAccount(fx.account(name, box, mode));
    const summary = await fx.inbound.fetch(name);
    expect(summary).toMatchObject({ fetched: 3, stored: 3, duplicates: 0, parseErrors: 0, postActions: 0 });
    const page = await fx.inbound.listMessages({ account: name });
    expect(page.items.map((m) => m.subject).sort()).toEqual(["Message 1", "Message 2", "Message 3"]);
    expect(page.items.every((m) => m.status === "parsed")).toBe(true);
    // The raw bytes stay in the batch's segment file, exactly as taken, with no second copy as a blob.
    for (const m of page.items) {
      expect(existsSync(join(fx.database.dataDir, "blobs", m.rawSha256.slice(0, 2), m.rawSha256.slice(2, 4), m.rawSha256))).toBe(false);
      const raw = await buffer(await fx.inbound.rawMessage(m.id));
      expect(createHash("sha256").update(raw).digest("hex")).toBe(m.rawSha256);
      expect(raw.toString("latin1")).toContain(`Subject: ${m.subject}`);
    }
    const again = await fx.inbound.fetch(name);
    expect(again).toMatchObject({ fetched: 0, stored: 0 });
    expect(fx.dovecot.count(box.user)).toBe(3);
  });

  it.each(["imap", "pop3"] as const)("takes the oldest or latest messages up to the limit over %s", async (protocol) => {
    const box = fx.newMailbox();
    for (let i = 1; i <= 10; i++) fx.dovecot.deliver(box.user, makeMessage(i));
    await fx.inbound.addAccount(fx.account(`old-${protocol}`, box, { protocol, security: "none" }, { strategy: "oldest", limit: 3 }));
    await fx.inbound.fetch(`old-${protocol}`);
    const oldest = (await fx.inbound.listMessages({ account: `old-${protocol}` })).items.map((m) => m.subject).sort();
    expect(oldest).toEqual(["Message 1", "Message 2", "Message 3"]);

    await fx.inbound.addAccount(fx.account(`new-${protocol}`, box, { protocol, security: "none" }, { strategy: "latest", limit: 4 }));
    await fx.inbound.fetch(`new-${protocol}`);
    const latest = (await fx.inbound.listMessages({ account: `new-${protocol}` })).items.map((m) => m.subject).sort();
    expect(latest).toEqual(["Message 10", "Message 7", "Message 8", "Message 9"]);

    // The next oldest-first run continues where the first stopped.
    await fx.inbound.fetch(`old-${protocol}`);
    const next = (await fx.inbound.listMessages({ account: `old-${protocol}` })).items.map((m) => m.subject).sort();
    expect(next).toEqual(["Message 1", "Message 2", "Message 3", "Message 4", "Message 5", "Message 6"]);
  });

  it.each(["imap", "pop3"] as const)("deletes on the server only what was stored, over %s", async (protocol) => {
    const box = fx.newMailbox();
    for (let i = 1; i <= 12; i++) fx.dovecot.deliver(box.user, makeMessage(i));
    const name = `del-${protocol}`;
    await fx.inbound.addAccount(fx.account(name, box, { protocol, security: "none" }, { after: "delete", all: true, batchSize: 5 }));
    const summary = await fx.inbound.fetch(name);
    expect(summary).toMatchObject({ stored: 12, postActions: 12 });
    expect(fx.dovecot.count(box.user)).toBe(0);
    expect((await fx.inbound.listMessages({ account: name, limit: 100 })).items).toHaveLength(12);
  });

  it.each(["imap", "pop3"] as const)("leaves a batch on the server when its store transaction fails, over %s", async (protocol) => {
    const box = fx.newMailbox();
    for (let i = 1; i <= 9; i++) fx.dovecot.deliver(box.user, makeMessage(i));
    const name = `fail-${protocol}`;
    await fx.inbound.addAccount(fx.account(name, box, { protocol, security: "none" }, { after: "delete", all: true, batchSize: 4 }));
    const store = fx.inbound.store;
    const original = store.messages.insertTaken;
    let calls = 0;
    store.messages.insertTaken = async (trx, rows) => {
      calls++;
      if (calls === 2) throw new Error("disk full (simulated)");
      return original.call(store.messages, trx, rows);
    };
    try {
      await expect(fx.inbound.fetch(name)).rejects.toThrow("disk full");
    } finally {
      store.messages.insertTaken = original;
    }
    // Batch 1 (4 messages) committed and deleted; batch 2 failed and must still be on the server, as must batch 3.
    expect((await fx.inbound.listMessages({ account: name })).items).toHaveLength(4);
    expect(fx.dovecot.count(box.user)).toBe(5);
    const summary = await fx.inbound.fetch(name);
    expect(summary.stored).toBe(5);
    expect(fx.dovecot.count(box.user)).toBe(0);
  });

  it("moves messages to a folder it creates, after storing them", async () => {
    const box = fx.newMailbox();
    for (let i = 1; i <= 4; i++) fx.dovecot.deliver(box.user, makeMessage(i));
    await fx.inbound.addAccount(fx.account("mover", box, { protocol: "imap", security: "none" }, { after: "move", moveTo: "Processed", markSeen: true }));
    const summary = await fx.inbound.fetch("mover");
    expect(summary).toMatchObject({ stored: 4, postActions: 4 });
    expect(fx.dovecot.count(box.user)).toBe(0);
    expect(fx.dovecot.count(box.user, "Processed")).toBe(4);
    expect(fx.dovecot.countSeen(box.user, "Processed")).toBe(4);
    const folders = (await fx.inbound.listFolders("mover")).map((f) => f.path);
    expect(folders).toContain("Processed");
  });

  // A crash between a batch's commit and its after-action leaves messages stored and still on the
  // server. The next run must finish the after-action for exactly those, and store nothing again.
  // That state is made here without a crash: a run with after "none" stores and leaves them.
  it.each([
    { protocol: "imap", after: "delete" },
    { protocol: "imap", after: "move" },
    { protocol: "pop3", after: "delete" },
  ] as const)("finishes the $after of messages stored but still on the server, over $protocol", async ({ protocol, after }) => {
    const box = fx.newMailbox();
    for (let i = 1; i <= 5; i++) fx.dovecot.deliver(box.user, makeMessage(i));
    const name = `left-${protocol}-${after}`;
    await fx.inbound.addAccount(fx.account(name, box, { protocol, security: "none" }, { after: "none", all: true, batchSize: 2 }));
    expect(await fx.inbound.fetch(name)).toMatchObject({ stored: 5, postActions: 0 });
    expect(fx.dovecot.count(box.user)).toBe(5);

    // Two more arrive meanwhile; they are taken and acted on as usual.
    for (let i = 6; i <= 7; i++) fx.dovecot.deliver(box.user, makeMessage(i));
    await fx.inbound.updateAccount(name, after === "move" ? { after, moveTo: "Done" } : { after });
    expect(await fx.inbound.fetch(name)).toMatchObject({ fetched: 2, stored: 2, duplicates: 0, postActions: 7 });
    expect(fx.dovecot.count(box.user)).toBe(0);
    if (after === "move") expect(fx.dovecot.count(box.user, "Done")).toBe(7);
    const stored = (await fx.inbound.listMessages({ account: name, limit: 100 })).items;
    expect(stored.map((m) => m.subject).sort()).toEqual([1, 2, 3, 4, 5, 6, 7].map((i) => `Message ${i}`).sort());

    expect(await fx.inbound.fetch(name)).toMatchObject({ fetched: 0, stored: 0, postActions: 0 });
  });

  // A server that hands out a used UID/UIDL again (a mailbox emptied and made anew under the same
  // UIDVALIDITY) shows a stored message's identity on a message that was never stored: it must not be deleted.
  it.each(["imap", "pop3"] as const)("leaves on the server a message that has a stored message's identity but not its size, over %s", async (protocol) => {
    const box = fx.newMailbox();
    for (let i = 1; i <= 3; i++) fx.dovecot.deliver(box.user, makeMessage(i));
    const validity = 1_000_000 + Math.floor(Math.random() * 1_000_000);
    await fx.dovecot.resetUidValidity(box.user, "INBOX", validity);
    const name = `reused-${protocol}`;
    await fx.inbound.addAccount(fx.account(name, box, { protocol, security: "none" }, { after: "none" }));
    expect(await fx.inbound.fetch(name)).toMatchObject({ stored: 3 });

    // The mailbox is emptied and filled anew; the server starts its UIDs (and Dovecot's UIDLs, UID + UIDVALIDITY) over.
    rmSync(fx.dovecot.maildir(box.user), { recursive: true, force: true });
    for (let i = 1; i <= 3; i++) fx.dovecot.deliver(box.user, makeMessage(i, { body: `Another message ${i}, never stored anywhere.` }));
    await fx.dovecot.resetUidValidity(box.user, "INBOX", validity);
    await fx.inbound.updateAccount(name, { after: "delete" });
    expect(await fx.inbound.fetch(name)).toMatchObject({ fetched: 0, stored: 0, postActions: 0 });
    expect(fx.dovecot.count(box.user)).toBe(3);
    const account = await fx.inbound.getAccount(name);
    const warnings = (await fx.inbound.store.events.list({ accountId: account.id })).filter((e) => e.type === "source.mismatch");
    expect(warnings).toHaveLength(1);
    expect(warnings[0].level).toBe("warn");
    expect(warnings[0].message).toMatch(/^3 message\(s\) .* were left on the server, not deleted/);
  });

  // Pointed at another mailbox whose UIDs (IMAP, same UIDVALIDITY) or UIDLs (POP3) coincide with the
  // stored ones, an account used to take its messages for stored: never fetched, and with
  // after=delete, deleted when their sizes matched.
  it.each(["imap", "pop3"] as const)("takes every message of the mailbox an account is pointed at after an update, though its identities coincide with stored ones, over %s", async (protocol) => {
    const first = fx.newMailbox();
    const second = fx.newMailbox();
    for (let i = 1; i <= 3; i++) fx.dovecot.deliver(first.user, makeMessage(i));
    for (let i = 1; i <= 3; i++) fx.dovecot.deliver(second.user, makeMessage(i + 10));
    const validity = 1_000_000 + Math.floor(Math.random() * 1_000_000);
    await fx.dovecot.resetUidValidity(first.user, "INBOX", validity);
    await fx.dovecot.resetUidValidity(second.user, "INBOX", validity);
    const name = `moved-${protocol}`;
    await fx.inbound.addAccount(fx.account(name, first, { protocol, security: "none" }, { after: "none" }));
    expect(await fx.inbound.fetch(name)).toMatchObject({ stored: 3 });

    await fx.inbound.updateAccount(name, { username: second.user, password: second.password, after: "delete" });
    const account = await fx.inbound.getAccount(name);
    const changed = (await fx.inbound.store.events.list({ accountId: account.id })).filter((e) => e.type === "account.mailbox_changed");
    expect(changed).toHaveLength(1);
    expect(changed[0].message).toContain(`user ${first.user} → ${second.user}`);
    expect(changed[0].message).not.toContain(second.password);

    expect(await fx.inbound.fetch(name)).toMatchObject({ fetched: 3, stored: 3, duplicates: 0, postActions: 3 });
    expect(fx.dovecot.count(second.user)).toBe(0);
    expect(fx.dovecot.count(first.user)).toBe(3);
    const subjects = (await fx.inbound.listMessages({ account: name, limit: 100 })).items.map((m) => m.subject).sort();
    expect(subjects).toEqual([1, 2, 3, 11, 12, 13].map((i) => `Message ${i}`).sort());
    const reset = (await fx.inbound.store.events.list({ accountId: account.id })).filter((e) => e.type === "mailbox.reset");
    expect(reset).toHaveLength(1);
    expect(reset[0].message).toMatch(/another mailbox now; 0 of 3 message\(s\)/);
    expect(await fx.inbound.fetch(name)).toMatchObject({ fetched: 0, stored: 0 });
  });

  it("switching an account between IMAP and POP3 on one mailbox stores nothing twice and loses nothing", async () => {
    const box = fx.newMailbox();
    for (let i = 1; i <= 3; i++) fx.dovecot.deliver(box.user, makeMessage(i));
    await fx.inbound.addAccount(fx.account("switch", box, { protocol: "imap", security: "none" }, { after: "none" }));
    expect(await fx.inbound.fetch("switch")).toMatchObject({ stored: 3 });

    fx.dovecot.deliver(box.user, makeMessage(4));
    await fx.inbound.updateAccount("switch", { protocol: "pop3", port: fx.dovecot.ports.pop3 });
    // The three stored by IMAP are recognised by their headers (TOP) and size; only the new one is fetched.
    expect(await fx.inbound.fetch("switch")).toMatchObject({ fetched: 1, stored: 1, duplicates: 0 });
    expect(await fx.inbound.fetch("switch")).toMatchObject({ fetched: 0, stored: 0 });

    fx.dovecot.deliver(box.user, makeMessage(5));
    await fx.inbound.updateAccount("switch", { protocol: "imap", port: fx.dovecot.ports.imap });
    expect(await fx.inbound.fetch("switch")).toMatchObject({ fetched: 1, stored: 1, duplicates: 0 });
    expect(await fx.inbound.fetch("switch")).toMatchObject({ fetched: 0, stored: 0 });
    const subjects = (await fx.inbound.listMessages({ account: "switch", limit: 100 })).items.map((m) => m.subject).sort();
    expect(subjects).toEqual([1, 2, 3, 4, 5].map((i) => `Message ${i}`));
    const account = await fx.inbound.getAccount("switch");
    const resets = (await fx.inbound.store.events.list({ accountId: account.id })).filter((e) => e.type === "mailbox.reset");
    expect(resets.map((e) => e.message)).toEqual(expect.arrayContaining([expect.stringMatching(/3 of 4 message\(s\) there matched/), expect.stringMatching(/4 of 5 message\(s\) in "INBOX" matched/)]));
  });

  it("a new port or security setting reaches the same mailbox: nothing is set aside or fetched again", async () => {
    const box = fx.newMailbox();
    for (let i = 1; i <= 2; i++) fx.dovecot.deliver(box.user, makeMessage(i));
    await fx.inbound.addAccount(fx.account("same-box", box, { protocol: "imap", security: "none" }));
    expect(await fx.inbound.fetch("same-box")).toMatchObject({ stored: 2 });
    await fx.inbound.updateAccount("same-box", { host: "127.0.0.1", port: fx.dovecot.ports.imap, timeoutMs: 20_000 });
    expect(await fx.inbound.fetch("same-box")).toMatchObject({ fetched: 0, stored: 0 });
    const account = await fx.inbound.getAccount("same-box");
    const types = (await fx.inbound.store.events.list({ accountId: account.id })).map((e) => e.type);
    expect(types).not.toContain("account.mailbox_changed");
    expect(types).not.toContain("mailbox.reset");
  });

  it("resynchronises after a UIDVALIDITY change without duplicates or loss", async () => {
    const box = fx.newMailbox();
    for (let i = 1; i <= 5; i++) fx.dovecot.deliver(box.user, makeMessage(i));
    await fx.inbound.addAccount(fx.account("reset", box, { protocol: "imap", security: "none" }));
    expect((await fx.inbound.fetch("reset")).stored).toBe(5);
    await fx.dovecot.resetUidValidity(box.user);
    fx.dovecot.deliver(box.user, makeMessage(6));
    const summary = await fx.inbound.fetch("reset");
    expect(summary).toMatchObject({ stored: 1, duplicates: 0 });
    expect((await fx.inbound.listMessages({ account: "reset" })).items).toHaveLength(6);
    const events = await fx.inbound.store.events.list({ accountId: (await fx.inbound.getAccount("reset")).id });
    expect(events.map((e) => e.type)).toContain("mailbox.reset");
    expect((await fx.inbound.fetch("reset")).stored).toBe(0);
  });

  it("after a UIDVALIDITY change, links one stored message to one server message: a look-alike is fetched, not deleted", async () => {
    const box = fx.newMailbox();
    // Same Message-ID, Date and size, different words: a resend, or a copy someone edited.
    const lookAlike = (body: string) => makeMessage(1, { body }).replace(/Message-ID: <[^>]+>/, "Message-ID: <resent@example.com>");
    fx.dovecot.deliver(box.user, lookAlike("Invoice total: 100 EUR"));
    fx.dovecot.deliver(box.user, lookAlike("Invoice total: 900 EUR"));
    await fx.inbound.addAccount(fx.account("alike", box, { protocol: "imap", security: "none" }, { limit: 1 }));
    expect((await fx.inbound.fetch("alike")).stored).toBe(1);
    await fx.dovecot.resetUidValidity(box.user);

    await fx.inbound.updateAccount("alike", { after: "delete", all: true });
    const summary = await fx.inbound.fetch("alike");
    // The first is the stored one (relinked, then deleted as a leftover); the second was never stored.
    expect(summary).toMatchObject({ fetched: 1, stored: 1, duplicates: 0, postActions: 2 });
    expect(fx.dovecot.count(box.user)).toBe(0);
    const stored = (await fx.inbound.listMessages({ account: "alike" })).items;
    const texts = await Promise.all(stored.map(async (m) => (await fx.inbound.getMessage(m.id)).textBody?.trim()));
    expect(texts.sort()).toEqual(["Invoice total: 100 EUR", "Invoice total: 900 EUR"]);
  });

  it("stores a malformed message raw with a parse error and goes on with the rest", async () => {
    const box = fx.newMailbox();
    fx.dovecot.deliver(box.user, makeMessage(1));
    const broken = [
      "From: x@example.com",
      "Subject: broken",
      "Message-ID: <broken@example.com>",
      "MIME-Version: 1.0",
      'Content-Type: multipart/mixed; boundary="declared-but-never-used"',
      "",
      "This body claims to be multipart but has no parts at all.",
      "",
    ].join("\r\n");
    fx.dovecot.deliver(box.user, broken);
    fx.dovecot.deliver(box.user, makeMessage(3));
    await fx.inbound.addAccount(fx.account("malformed", box, { protocol: "imap", security: "none" }));
    const summary = await fx.inbound.fetch("malformed");
    expect(summary).toMatchObject({ stored: 3, parseErrors: 1 });
    const items = (await fx.inbound.listMessages({ account: "malformed" })).items;
    const flagged = items.find((m) => m.messageIdHeader === "<broken@example.com>");
    expect(flagged?.status).toBe("failed");
    expect(flagged?.parseError).toBeTruthy();
    const raw = await fx.inbound.rawMessage(flagged!.id);
    const chunks: Buffer[] = [];
    for await (const c of raw) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe(broken);
  });

  it("serialises two runs of one account: the second is told or waits, nothing twice", async () => {
    const box = fx.newMailbox();
    for (let i = 1; i <= 20; i++) fx.dovecot.deliver(box.user, makeMessage(i));
    await fx.inbound.addAccount(fx.account("twice", box, { protocol: "imap", security: "none" }, { all: true, batchSize: 3 }));
    // The first run holds the lock once it reports progress (the lock is taken before the first report).
    let running!: () => void;
    const holding = new Promise<void>((resolve) => (running = resolve));
    const first = fx.inbound.fetch("twice", { onProgress: () => running() });
    await holding;
    expect(await codeOf(fx.inbound.fetch("twice"))).toBe("ACCOUNT_BUSY");
    const waited = fx.inbound.fetch("twice", { wait: true });
    const [a, b] = await Promise.all([first, waited]);
    expect(a.stored + b.stored).toBe(20);
    expect(b.stored).toBe(0);
    expect((await fx.inbound.listMessages({ account: "twice", limit: 100 })).items).toHaveLength(20);
  });

  it("gives distinct, clear errors for a wrong password, host, refused STARTTLS and an untrusted certificate", async () => {
    const box = fx.newMailbox();
    await fx.inbound.addAccount(fx.account("badpw", { ...box, password: "not-the-password" }, { protocol: "imaps", security: "tls" }));
    await fx.inbound.addAccount(fx.account("badhost", box, { protocol: "imap", security: "none" }, { port: noTls.ports.imaps }));
    await fx.inbound.addAccount({ ...fx.account("nostarttls", box, { protocol: "imap", security: "starttls" }), port: noTls.ports.imap });
    await fx.inbound.addAccount({ ...fx.account("untrusted", box, { protocol: "pop3s", security: "tls" }), tlsCa: null });
    await fx.inbound.addAccount({ ...fx.account("badpw3", { ...box, password: "not-the-password" }, { protocol: "pop3s", security: "tls" }) });
    const codes = {
      badpw: await codeOf(fx.inbound.testAccount("badpw")),
      badhost: await codeOf(fx.inbound.fetch("badhost")),
      nostarttls: await codeOf(fx.inbound.testAccount("nostarttls")),
      untrusted: await codeOf(fx.inbound.fetch("untrusted")),
      badpw3: await codeOf(fx.inbound.testAccount("badpw3")),
    };
    expect(codes).toEqual({ badpw: "IMAP_AUTH_FAILED", badhost: "CONNECTION_FAILED", nostarttls: "STARTTLS_UNSUPPORTED", untrusted: "TLS_CERT_UNTRUSTED", badpw3: "POP3_AUTH_FAILED" });
    const account = await fx.inbound.getAccount("badhost");
    expect(account.lastError).toMatch(/Could not connect/);
  });
});
