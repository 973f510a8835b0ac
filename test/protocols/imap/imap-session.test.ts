import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Readable } from "node:stream";
import { InboundError } from "../../../src/core/inbound-error.js";
import { openImapSession, sizeGroups, uidSet, type ImapSessionOptions } from "../../../src/protocols/imap/imap-session.js";
import { startDovecot, type DovecotServer } from "../../harness/dovecot.js";
import { collect, rejection } from "../../harness/expectations.js";

async function expectCode(work: Promise<unknown>, code: string): Promise<InboundError> {
  const error = await rejection(work);
  expect(error.code).toBe(code);
  return error;
}

describe("ImapSession against a real Dovecot", () => {
  let dovecot: DovecotServer;
  let plainOnly: DovecotServer;
  let base: ImapSessionOptions;

  beforeAll(async () => {
    dovecot = await startDovecot({ users: [{ name: "alice", password: "alice-secret" }, { name: "bob", password: "bob-secret" }, { name: "carol", password: "carol-secret" }] });
    plainOnly = await startDovecot({ ssl: false });
    base = { host: "127.0.0.1", port: dovecot.ports.imaps, security: "tls", tlsVerify: true, tlsCa: dovecot.certPem, username: "alice", password: "alice-secret", timeoutMs: 10_000 };
  });
  afterAll(async () => {
    await dovecot?.stop();
    await plainOnly?.stop();
  });

  it.each([
    ["imap without TLS", () => ({ port: dovecot.ports.imap, security: "none" as const })],
    ["imap with STARTTLS", () => ({ port: dovecot.ports.imap, security: "starttls" as const })],
    ["imaps", () => ({ port: dovecot.ports.imaps, security: "tls" as const })],
  ])("logs in over %s and reads the inbox", async (_label, mode) => {
    const session = await openImapSession({ ...base, ...mode() });
    try {
      const status = await session.select("INBOX");
      expect(status.uidValidity).toMatch(/^\d+$/);
      const folders = await session.listFolders();
      expect(folders.map((f) => f.path)).toContain("INBOX");
    } finally {
      await session.close();
    }
  });

  it("streams raw messages byte for byte, small and large", async () => {
    const small = "From: a@example.com\r\nSubject: small\r\n\r\nhello\r\n";
    const bigBody = "x".repeat(76) + "\r\n";
    const large = `From: a@example.com\r\nSubject: large\r\n\r\n${bigBody.repeat(80_000)}`;
    dovecot.deliver("bob", small);
    dovecot.deliver("bob", Buffer.from(large));
    const session = await openImapSession({ ...base, username: "bob", password: "bob-secret" });
    try {
      await session.select("INBOX");
      const uids = await session.searchAll();
      expect(uids).toHaveLength(2);
      await session.addFlags(uids, ["\\Flagged"]);
      const sizes = await session.fetchSizes(uids);
      expect([...sizes.values()].sort((a, b) => a - b)).toEqual([Buffer.byteLength(small), Buffer.byteLength(large)]);
      // Bounds: the large message's exact size, 256 KB for the small one (only the server looked at it).
      const bounds = await session.sizeBounds(uids);
      expect([...bounds.values()].sort((a, b) => a - b)).toEqual([256 * 1024, Buffer.byteLength(large)]);
      // With exact sizes, with bounds for a whole plan, and with neither: the same bytes and metadata.
      for (const known of [sizes, bounds, undefined]) {
        const got = new Map<number, Buffer>();
        await session.fetchRaw(uids, async (meta, body) => {
          const bytes = await collect(body);
          expect(meta.size).toBe(bytes.length);
          expect(meta.flags).toContain("\\Flagged");
          expect(meta.internalDate).toBeInstanceOf(Date);
          got.set(meta.uid, bytes);
        }, known);
        const all = [...got.values()].map((b) => b.toString()).sort((a, b) => a.length - b.length);
        expect(all[0]).toBe(small);
        expect(all[1]).toBe(large);
      }
    } finally {
      await session.close();
    }
  });

  it("rejects a wrong password with IMAP_AUTH_FAILED and keeps the password out of the error", async () => {
    const error = await expectCode(openImapSession({ ...base, password: "wrong-pass-123" }), "IMAP_AUTH_FAILED");
    expect(JSON.stringify(error.toJSON()) + error.message).not.toContain("wrong-pass-123");
    expect(error.retryable).toBe(false);
  });

  it("reports an unreachable host as CONNECTION_FAILED", async () => {
    const closedPort = plainOnly.ports.imaps; // the no-TLS server never listens there
    await expectCode(openImapSession({ ...base, port: closedPort }), "CONNECTION_FAILED");
  });

  it("refuses to continue without STARTTLS when the account requires it", async () => {
    await expectCode(openImapSession({ ...base, port: plainOnly.ports.imap, security: "starttls" }), "STARTTLS_UNSUPPORTED");
  });

  it("rejects an untrusted certificate unless verification is turned off", async () => {
    const error = await expectCode(openImapSession({ ...base, tlsCa: null }), "TLS_CERT_UNTRUSTED");
    expect(error.message).toContain("--tls-ca");
    const session = await openImapSession({ ...base, tlsCa: null, tlsVerify: false });
    await session.close();
  });

  it("names a missing folder", async () => {
    const session = await openImapSession(base);
    try {
      await expectCode(session.select("No/Such/Folder"), "IMAP_FOLDER_NOT_FOUND");
    } finally {
      await session.close();
    }
  });

  it("reconnects after a dropped connection, but acts on no UID once the folder's UIDVALIDITY changed meanwhile", async () => {
    for (let i = 1; i <= 3; i++) dovecot.deliver("carol", `Subject: keep ${i}\r\n\r\nbody ${i}\r\n`);
    const session = await openImapSession({ ...base, username: "carol", password: "carol-secret" });
    try {
      await session.select("INBOX");
      const uids = await session.searchAll();
      expect(uids).toHaveLength(3);

      // A dropped connection alone: the session reconnects, re-selects and goes on.
      await dovecot.kick("carol");
      await session.addFlags(uids.slice(0, 1), ["\\Flagged"]);
      expect(await session.searchAll()).toEqual(uids);

      // Dropped while the folder was recreated or restored: the same UIDs may name other mail now.
      await dovecot.resetUidValidity("carol");
      await dovecot.kick("carol");
      const error = await expectCode(session.deleteMessages(uids), "IMAP_UIDVALIDITY_CHANGED");
      expect(error.message).toContain("next run");
      expect(dovecot.count("carol")).toBe(3);
    } finally {
      await session.close();
    }
  });

  it("compresses UID lists into sequence sets", () => {
    expect(uidSet([5, 1, 2, 3, 9, 10, 7])).toBe("1:3,5,7,9:10");
  });

  it("cuts a batch into FETCH commands of bounded size, never splitting a message", () => {
    const metas = [{ uid: 3, size: 5 }, { uid: 1, size: 4 }, { uid: 2, size: 4 }, { uid: 4, size: 20 }, { uid: 5, size: 1 }];
    expect(sizeGroups(metas, 8)).toEqual([[1, 2], [3], [4], [5]]);
    expect(sizeGroups(metas, 100)).toEqual([[1, 2, 3, 4, 5]]);
    expect(sizeGroups([], 8)).toEqual([]);
  });
});
