import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mailboxPool, startDovecot, type DovecotServer } from "../harness/dovecot.js";
import { DIALECTS } from "../store/test-databases.js";
import { openRetrievalFixture, type RetrievalFixture } from "./retrieval-fixture.js";

/*
 * PostgreSQL's text type cannot hold U+0000, and mail carries it easily. One
 * such message used to fail its parse group on every pass (on PostgreSQL),
 * leaving it and the messages saved with it pending for good.
 */
describe.each(DIALECTS)("messages with NUL characters on %s", (dialect) => {
  let dovecot: DovecotServer;
  let fx: RetrievalFixture;
  beforeAll(async () => {
    dovecot = await startDovecot({ users: mailboxPool(2) });
    fx = await openRetrievalFixture(dialect, dovecot);
  });
  afterAll(async () => {
    await fx?.close();
    await dovecot?.stop();
  });

  it("stores them parsed, NUL shown as U+FFFD, and the messages beside them too", async () => {
    const box = fx.newMailbox();
    const withNul = [
      "From: A <a@example.com>",
      "Subject: =?utf-8?Q?x=00y?=",
      "Message-ID: <nul-1@example.com>",
      "MIME-Version: 1.0",
      'Content-Type: multipart/mixed; boundary="b"',
      "",
      "--b",
      "Content-Type: text/plain; charset=utf-8",
      "Content-Transfer-Encoding: quoted-printable",
      "",
      "hello=00world",
      "--b",
      "Content-Type: application/octet-stream",
      "Content-Disposition: attachment; filename*=utf-8''a%00b.bin",
      "Content-Transfer-Encoding: base64",
      "",
      Buffer.from("data").toString("base64"),
      "--b--",
      "",
    ].join("\r\n");
    const plain = "From: B <b@example.com>\r\nSubject: plain\r\nMessage-ID: <nul-2@example.com>\r\n\r\nfine\r\n";
    fx.dovecot.deliver(box.user, withNul);
    fx.dovecot.deliver(box.user, plain);
    await fx.inbound.addAccount(fx.account("nul", box, { protocol: "imap", security: "none" }));

    expect(await fx.inbound.fetch("nul")).toMatchObject({ stored: 2, parseErrors: 0 });
    const items = (await fx.inbound.listMessages({ account: "nul" })).items;
    expect(items.map((m) => m.status).sort()).toEqual(["parsed", "parsed"]);
    const stored = await fx.inbound.getMessage(items.find((m) => m.messageIdHeader === "<nul-1@example.com>")!.id);
    expect(stored.subject).toBe("x\uFFFDy");
    expect(stored.textBody).toContain("hello\uFFFDworld");
    expect(stored.attachments.map((a) => a.filename)).toEqual(["a\uFFFDb.bin"]);
  });
});
