import { ImapFlow } from "imapflow";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mailboxPool, startDovecot, type DovecotServer } from "../harness/dovecot.js";
import { WITHOUT_UIDPLUS_AND_MOVE } from "../protocols/imap/without-uidplus.js";
import { DIALECTS } from "../store/test-databases.js";
import { makeMessage, openRetrievalFixture, type RetrievalFixture } from "./retrieval-fixture.js";

// Without UIDPLUS, EXPUNGE removes every \Deleted message of the folder, whoever flagged it.
describe.each(DIALECTS)("IMAP retrieval from a server without UIDPLUS and MOVE, on %s", (dialect) => {
  let dovecot: DovecotServer;
  let fx: RetrievalFixture;
  beforeAll(async () => {
    dovecot = await startDovecot({ users: mailboxPool(4), extraConfig: WITHOUT_UIDPLUS_AND_MOVE });
    fx = await openRetrievalFixture(dialect, dovecot);
  });
  afterAll(async () => {
    await fx?.close();
    await dovecot?.stop();
  });

  /** Another client on the mailbox, as a person's mail program would be. */
  async function otherClient<T>(box: { user: string; password: string }, work: (client: ImapFlow) => Promise<T>): Promise<T> {
    const client = new ImapFlow({ host: dovecot.host, port: dovecot.ports.imap, secure: false, doSTARTTLS: false, auth: { user: box.user, pass: box.password }, logger: false });
    await client.connect();
    try {
      await client.mailboxOpen("INBOX");
      return await work(client);
    } finally {
      await client.logout();
    }
  }

  /** UID → whether it is flagged \Deleted, for every message in the INBOX. */
  const serverState = (box: { user: string; password: string }) =>
    otherClient(box, async (client) => {
      const state = new Map<number, boolean>();
      for await (const m of client.fetch("1:*", { uid: true, flags: true }, { uid: true })) state.set(m.uid, m.flags?.has("\\Deleted") ?? false);
      return state;
    });

  it.each(["delete", "move"] as const)("never expunges a message another client flagged \\Deleted before it is stored (after=%s)", async (after) => {
    const box = fx.newMailbox();
    for (let i = 1; i <= 5; i++) fx.dovecot.deliver(box.user, makeMessage(i));
    // A mail program in "mark as deleted" mode flags UID 5 and does not expunge.
    await otherClient(box, async (client) => {
      expect(client.capabilities.has("UIDPLUS")).toBe(false);
      expect(client.capabilities.has("MOVE")).toBe(false);
      await client.messageFlagsAdd("5", ["\\Deleted"], { uid: true });
    });
    const name = `no-uidplus-${after}`;
    await fx.inbound.addAccount(fx.account(name, box, { protocol: "imap", security: "none" }, { limit: 2, after, moveTo: after === "move" ? "Done" : null }));
    const account = await fx.inbound.getAccount(name);
    const withheld = async () => (await fx.inbound.store.events.list({ accountId: account.id, limit: 100 })).filter((e) => e.type === "source.expunge_withheld");

    // Run 1 stores UIDs 1-2; its EXPUNGE would take UID 5, never stored, along: it is not sent.
    const first = await fx.inbound.fetch(name);
    // The three messages that were never stored are all still there; ours stay, flagged \Deleted.
    expect([...(await serverState(box))]).toEqual([[1, true], [2, true], [3, false], [4, false], [5, true]]);
    expect(first).toMatchObject({ stored: 2, postActions: 0 });
    if (after === "move") expect(fx.dovecot.count(box.user, "Done")).toBe(2);
    const warnings = await withheld();
    expect(warnings).toHaveLength(1);
    expect(warnings[0].level).toBe("warn");
    expect(warnings[0].message).toMatch(/^2 stored message\(s\) \(UID 1, UID 2\) were .*flagged \\Deleted, not expunged: the server does not offer UIDPLUS, so its EXPUNGE would also remove 1 message\(s\) \(UID 5\)/);
    expect(warnings[0].message).toContain("expunge the folder in a mail client");

    // Run 2 neither fails nor copies UIDs 1-2 again: it stores 3-4, and UID 5 still holds the EXPUNGE back.
    expect(await fx.inbound.fetch(name)).toMatchObject({ stored: 2, duplicates: 0, postActions: 0 });
    expect([...(await serverState(box))]).toEqual([[1, true], [2, true], [3, true], [4, true], [5, true]]);
    if (after === "move") expect(fx.dovecot.count(box.user, "Done")).toBe(4);
    expect((await withheld()).map((e) => e.data.withheld)).toEqual([[1, 2, 3, 4], [1, 2]]);

    // Run 3 stores UID 5: now every \Deleted message is stored, and the EXPUNGE goes through.
    expect(await fx.inbound.fetch(name)).toMatchObject({ stored: 1, duplicates: 0, postActions: 5 });
    expect(fx.dovecot.count(box.user)).toBe(0);
    expect(await withheld()).toHaveLength(2);
    if (after === "move") expect(fx.dovecot.count(box.user, "Done")).toBe(5);
    const stored = (await fx.inbound.listMessages({ account: name, limit: 100 })).items;
    expect(stored.map((m) => m.subject).sort()).toEqual([1, 2, 3, 4, 5].map((i) => `Message ${i}`));
    expect(await fx.inbound.fetch(name)).toMatchObject({ fetched: 0, stored: 0, postActions: 0 });
  });
});
