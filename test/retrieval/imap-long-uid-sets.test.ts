import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uidSet } from "../../src/protocols/imap/uid-set.js";
import { mailboxPool, startDovecot, type DovecotServer } from "../harness/dovecot.js";
import { fillGappedMailbox } from "../protocols/imap/gapped-mailbox.js";
import { DIALECTS } from "../store/test-databases.js";
import { openRetrievalFixture, type RetrievalFixture } from "./retrieval-fixture.js";

/**
 * Dovecot refuses a command line over `imap_max_line_length` ("Too long argument"). At its
 * default of 64 KB a folder needs ~9,000 gapped UIDs to get there, and storing that many makes
 * a slow test; at 10 KB, 1,500 do (test/protocols/imap covers 12,000 at the default). Inbound's
 * UID sets stay under 8 KB, below either.
 */
const LINE_LIMIT = "imap_max_line_length = 10k\n";

describe.each(DIALECTS)("IMAP retrieval over a folder with many gapped UIDs, on %s", (dialect) => {
  let dovecot: DovecotServer;
  let fx: RetrievalFixture;
  beforeAll(async () => {
    dovecot = await startDovecot({ users: mailboxPool(2), extraConfig: LINE_LIMIT });
    fx = await openRetrievalFixture(dialect, dovecot);
  });
  afterAll(async () => {
    await fx?.close();
    await dovecot?.stop();
  });

  it("finishes a switch from after=none to after=delete over thousands of stored messages", async () => {
    const box = fx.newMailbox();
    const messages = Array.from({ length: 1_500 }, (_, i) => `Message-ID: <long-${i}@example.com>\r\nSubject: long ${i}\r\n\r\nbody ${i}\r\n`);
    const uids = fillGappedMailbox(fx.dovecot, box.user, messages);
    expect(uidSet(uids).length).toBeGreaterThan(10 * 1024);
    await fx.inbound.addAccount(fx.account("long", box, { protocol: "imap", security: "none" }, { all: true, batchSize: 10_000 }));
    expect(await fx.inbound.fetch("long")).toMatchObject({ stored: 1_500 });

    // Every message is a stored leftover now: their sizes and the delete each take one long UID set.
    await fx.inbound.updateAccount("long", { after: "delete" });
    expect(await fx.inbound.fetch("long")).toMatchObject({ fetched: 0, stored: 0, postActions: 1_500 });
    expect(fx.dovecot.count(box.user)).toBe(0);
    expect(await fx.inbound.fetch("long")).toMatchObject({ fetched: 0, postActions: 0 });
  });
});
