import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mailboxPool, startDovecot, type DovecotServer } from "./harness/dovecot.js";
import { makeMessage, openRetrievalFixture, type RetrievalFixture } from "./retrieval/retrieval-fixture.js";
import { DIALECTS } from "./store/test-databases.js";

describe.each(DIALECTS)("the library on %s", (dialect) => {
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

  it("subscribe → new mail → the in-process handler gets each message once, in order; unsubscribe stops it", async () => {
    const box = fx.newMailbox();
    await fx.inbound.addAccount(fx.account("lib", box, { protocol: "imap", security: "none" }));
    const seen: Array<{ eventId: string; subject: string | null }> = [];
    const off = fx.inbound.onMessage(async (message, context) => {
      seen.push({ eventId: context.eventId, subject: message.subject });
    }, { name: "test-handler" });
    await off.ready;
    await fx.inbound.subscribe("lib");
    await fx.inbound.subscribe("lib"); // twice: still one watch
    expect(fx.inbound.watches.states().filter((s) => s.accountId === (fx.inbound.watches.states()[0]?.accountId))).toHaveLength(1);
    for (let i = 1; i <= 3; i++) dovecot.deliver(box.user, makeMessage(i));
    const deadline = Date.now() + 30_000;
    while (seen.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(seen.map((s) => s.subject)).toEqual(["Message 1", "Message 2", "Message 3"]);
    expect(new Set(seen.map((s) => s.eventId)).size).toBe(3);

    await fx.inbound.unsubscribe("lib");
    await fx.inbound.unsubscribe("lib"); // not subscribed: a no-op
    dovecot.deliver(box.user, makeMessage(4));
    await new Promise((r) => setTimeout(r, 1_500));
    expect(seen).toHaveLength(3);
    expect((await fx.inbound.listMessages({ account: "lib" })).items).toHaveLength(3);
    off();
  }, 60_000);
});
