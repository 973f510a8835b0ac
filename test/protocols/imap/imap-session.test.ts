import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, createServer, type AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { ImapFlow } from "imapflow";
import { InboundError } from "../../../src/core/inbound-error.js";
import { openImapSession, sizeGroups, type ImapSessionOptions } from "../../../src/protocols/imap/imap-session.js";
import { uidSet } from "../../../src/protocols/imap/uid-set.js";
import { startDovecot, type DovecotServer } from "../../harness/dovecot.js";
import { collect, rejection } from "../../harness/expectations.js";
import { fillGappedMailbox } from "./gapped-mailbox.js";
import { WITHOUT_UIDPLUS_AND_MOVE } from "./without-uidplus.js";

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
    dovecot = await startDovecot({
      users: ["alice", "bob", "carol", "dave", "erin", "frank"].map((name) => ({ name, password: `${name}-secret` })),
    });
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

  it("splits every command over 12,000 gapped UIDs into lines the server takes", async () => {
    const small = Array.from({ length: 12_000 }, (_, i) => `Message-ID: <gap-${i}@example.com>\r\nSubject: gap ${i}\r\n\r\nbody ${i}\r\n`);
    const large = Buffer.from(`Subject: large\r\n\r\n${`${"y".repeat(998)}\r\n`.repeat(5_000)}`);
    const uids = fillGappedMailbox(dovecot, "dave", [...small.slice(0, 6_000), large, ...small.slice(6_000)]);
    const largeUid = uids[6_000];
    // As one set these UIDs are over 90 KB: Dovecot refuses a line over 64 KB ("Too long argument").
    expect(uidSet(uids).length).toBeGreaterThan(64 * 1024);
    const session = await openImapSession({ ...base, username: "dave", password: "dave-secret" });
    try {
      await session.select("INBOX");
      expect(await session.searchAll()).toEqual(uids);
      // The large message's exact size, not the 256 KB bound: planned as small, it would be fetched whole into memory.
      const bounds = await session.sizeBounds(uids);
      expect(bounds.size).toBe(uids.length);
      expect(bounds.get(largeUid)).toBe(large.length);
      const sizes = await session.fetchSizes(uids);
      expect(sizes.size).toBe(uids.length);
      expect(sizes.get(largeUid)).toBe(large.length);
      expect(sizes.get(uids[0])).toBe(Buffer.byteLength(small[0]));
      expect((await session.fetchMeta(uids, { envelope: false })).map((m) => m.uid)).toEqual(uids);

      // With exact sizes, all small messages fit one 8 MB FETCH plan: its UID set is split as well.
      const smallUids = uids.filter((uid) => uid !== largeUid);
      let fetched = 0;
      await session.fetchRaw(smallUids, async () => {
        fetched++;
      }, sizes);
      expect(fetched).toBe(smallUids.length);

      await session.addFlags(uids, ["\\Seen"]);
      expect(dovecot.countSeen("dave")).toBe(uids.length);
      expect(await session.deleteMessages(uids)).toEqual({ removed: uids, withheld: [], blockers: [] });
      expect(dovecot.count("dave")).toBe(0);
    } finally {
      await session.close();
    }
  });

  it("takes a refused SEARCH for an error, never for \"no large messages\"", async () => {
    dovecot.deliver("alice", "Subject: refused search\r\n\r\nbody\r\n");
    const session = await openImapSession(base);
    try {
      await session.select("INBOX");
      // UID 0 does not exist in IMAP: Dovecot answers BAD, and imapflow resolves false.
      const error = await expectCode(session.sizeBounds([0]), "IMAP_COMMAND_FAILED");
      expect(error.message).toContain("UID SEARCH");
    } finally {
      await session.close();
    }
  });

  it("stops streaming when the session is cancelled: nothing more reaches the callback", async () => {
    for (let i = 1; i <= 200; i++) dovecot.deliver("erin", `Subject: cancel ${i}\r\n\r\n${"z".repeat(200)}\r\n`);
    const large = Buffer.from(`Subject: cancel large\r\n\r\n${`${"w".repeat(998)}\r\n`.repeat(6_000)}`);
    dovecot.deliver("erin", large);

    // Many small messages in one FETCH: cancelled at the 5th, the run gets no 6th.
    const first = new AbortController();
    const session = await openImapSession({ ...base, username: "erin", password: "erin-secret", signal: first.signal });
    let largeUid = 0;
    try {
      await session.select("INBOX");
      const uids = await session.searchAll();
      const sizes = await session.fetchSizes(uids);
      largeUid = uids.find((uid) => sizes.get(uid) === large.length) as number;
      const smallUids = uids.filter((uid) => uid !== largeUid);
      let handed = 0;
      const error = await expectCode(session.fetchRaw(smallUids, async () => {
        handed++;
        if (handed === 5) first.abort();
      }, sizes), "ABORTED");
      expect(error.retryable).toBe(false);
      expect(handed).toBe(5);
      await expectCode(session.searchAll(), "ABORTED");
    } finally {
      await session.close();
    }

    // One large message streamed in partial fetches: cancelled at its first bytes, the rest never comes.
    const second = new AbortController();
    const again = await openImapSession({ ...base, username: "erin", password: "erin-secret", signal: second.signal });
    try {
      await again.select("INBOX");
      let received = 0;
      await expectCode(again.fetchRaw([largeUid], async (_meta, body) => {
        for await (const chunk of body as Readable) {
          received += (chunk as Buffer).length;
          second.abort();
        }
      }), "ABORTED");
      expect(received).toBeGreaterThan(0);
      expect(received).toBeLessThan(large.length);
    } finally {
      await again.close();
    }
  });

  it("cuts a batch into FETCH commands of bounded size, never splitting a message", () => {
    const metas = [{ uid: 3, size: 5 }, { uid: 1, size: 4 }, { uid: 2, size: 4 }, { uid: 4, size: 20 }, { uid: 5, size: 1 }];
    expect(sizeGroups(metas, 8)).toEqual([[1, 2], [3], [4], [5]]);
    expect(sizeGroups(metas, 100)).toEqual([[1, 2, 3, 4, 5]]);
    expect(sizeGroups([], 8)).toEqual([]);
  });

  it("does not time out a message that arrives slowly but steadily, longer than the timeout", async () => {
    // 600 KB through a link of ~160 KB/s takes ~4 s, against a 1.5 s inactivity timeout.
    const body = `Subject: slow\r\n\r\n${"s".repeat(600 * 1024)}\r\n`;
    dovecot.deliver("frank", body);
    const proxy = createServer((client) => {
      const upstream = connect(dovecot.ports.imap, "127.0.0.1");
      client.pipe(upstream);
      upstream.on("data", (chunk: Buffer) => {
        upstream.pause();
        // Pass the server's bytes on 16 KB per 100 ms.
        const pieces: Buffer[] = [];
        for (let at = 0; at < chunk.length; at += 16 * 1024) pieces.push(chunk.subarray(at, at + 16 * 1024));
        const next = () => {
          const piece = pieces.shift();
          if (piece === undefined) return void upstream.resume();
          client.write(piece);
          setTimeout(next, 100);
        };
        next();
      });
      const end = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on("error", end).on("close", end);
      upstream.on("error", end).on("close", end);
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    const port = (proxy.address() as AddressInfo).port;
    try {
      const session = await openImapSession({ ...base, port, security: "none", username: "frank", password: "frank-secret", timeoutMs: 1_500 });
      try {
        await session.select("INBOX");
        const uids = await session.searchAll();
        let received = "";
        await session.fetchRaw(uids, async (_meta, raw) => {
          received = Buffer.isBuffer(raw) ? raw.toString("latin1") : "";
        });
        expect(received).toBe(body);
      } finally {
        await session.close();
      }
    } finally {
      proxy.close();
    }
  }, 30_000);
});

describe("ImapSession against a Dovecot without UIDPLUS and MOVE", () => {
  let dovecot: DovecotServer;
  const users = ["frank", "grace"].map((name) => ({ name, password: `${name}-secret` }));
  const options = (user: string): ImapSessionOptions => ({ host: dovecot.host, port: dovecot.ports.imap, security: "none", tlsVerify: false, username: user, password: `${user}-secret`, timeoutMs: 10_000 });

  beforeAll(async () => {
    dovecot = await startDovecot({ users, extraConfig: WITHOUT_UIDPLUS_AND_MOVE });
  });
  afterAll(async () => {
    await dovecot?.stop();
  });

  /** Flag `uid` \\Deleted from another client, without expunging, as a mail program in "mark as deleted" mode does. */
  async function flagDeletedElsewhere(user: string, uid: number): Promise<void> {
    const other = new ImapFlow({ host: dovecot.host, port: dovecot.ports.imap, secure: false, doSTARTTLS: false, auth: { user, pass: `${user}-secret` }, logger: false });
    await other.connect();
    try {
      await other.mailboxOpen("INBOX");
      expect(other.capabilities.has("UIDPLUS")).toBe(false);
      await other.messageFlagsAdd(String(uid), ["\\Deleted"], { uid: true });
    } finally {
      await other.logout();
    }
  }

  it("expunges only when no message but its own is flagged \\Deleted", async () => {
    for (let i = 1; i <= 4; i++) dovecot.deliver("frank", `Subject: keep ${i}\r\n\r\nbody ${i}\r\n`);
    const session = await openImapSession(options("frank"));
    try {
      await session.select("INBOX");
      expect(await session.searchAll()).toEqual([1, 2, 3, 4]);
      await flagDeletedElsewhere("frank", 4);
      // A plain EXPUNGE would take UID 4 along: ours stay, flagged, and the result says why.
      expect(await session.deleteMessages([1, 2])).toEqual({ removed: [], withheld: [1, 2], blockers: [4] });
      expect(dovecot.count("frank")).toBe(4);
      // Asked again, nothing changes, and nothing fails.
      expect(await session.deleteMessages([1, 2])).toEqual({ removed: [], withheld: [1, 2], blockers: [4] });
      // Once UID 4 may go too (its caller has stored it), the EXPUNGE is sent.
      expect(await session.deleteMessages([1, 2], { alsoRemovable: new Set([4]) })).toEqual({ removed: [1, 2], withheld: [], blockers: [] });
      expect(await session.searchAll()).toEqual([3]);
    } finally {
      await session.close();
    }
  });

  it("moves by COPY, and a resumed move does not copy again what an earlier one copied", async () => {
    for (let i = 1; i <= 3; i++) dovecot.deliver("grace", `Subject: move ${i}\r\n\r\nbody ${i}\r\n`);
    const session = await openImapSession(options("grace"));
    try {
      await session.select("INBOX");
      await flagDeletedElsewhere("grace", 3);
      for (const resumed of [false, true]) {
        expect(await session.moveMessages([1, 2], "Done", { resumed })).toEqual({ removed: [], withheld: [1, 2], blockers: [3] });
        expect(dovecot.count("grace")).toBe(3);
        expect(dovecot.count("grace", "Done")).toBe(2);
      }
      expect(await session.moveMessages([1, 2], "Done", { resumed: true, alsoRemovable: new Set([3]) })).toEqual({ removed: [1, 2], withheld: [], blockers: [] });
      expect(dovecot.count("grace")).toBe(0);
      expect(dovecot.count("grace", "Done")).toBe(2);
    } finally {
      await session.close();
    }
  });

});
