import { createHash } from "node:crypto";
import type { Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mailboxPool, startDovecot, type DovecotServer } from "../harness/dovecot.js";
import { collect, rejection } from "../harness/expectations.js";
import { rewritingProxy } from "../harness/rewriting-proxy.js";
import { makeMessage, openRetrievalFixture, type RetrievalFixture } from "./retrieval-fixture.js";

/** A message over the 4 MB line, so it is streamed in 1 MB partial FETCHes. */
function largeMessage(): string {
  const line = `${"x".repeat(76)}\r\n`;
  return makeMessage(1, { subject: "large", body: line.repeat(Math.ceil((5 * 1024 * 1024) / line.length)) });
}

const sha256 = (bytes: Buffer | string) => createHash("sha256").update(bytes).digest("hex");

/** Every RFC822.SIZE above 4 MB shifted by `delta`, as a server with a stale index reports it. */
const misreportLargeSizes = (delta: number) => (text: string) =>
  text.replace(/RFC822\.SIZE (\d+)/g, (whole, size: string) => (Number(size) > 4 * 1024 * 1024 ? `RFC822.SIZE ${Number(size) + delta}` : whole));

describe("IMAP: a large message whose RFC822.SIZE is wrong", () => {
  let dovecot: DovecotServer;
  let fx: RetrievalFixture;
  const proxies: Server[] = [];
  beforeAll(async () => {
    dovecot = await startDovecot({ users: mailboxPool(4) });
    fx = await openRetrievalFixture("sqlite", dovecot);
  });
  afterAll(async () => {
    for (const proxy of proxies) proxy.close();
    await fx?.close();
    await dovecot?.stop();
  });

  async function accountBehind(name: string, rewrite: Parameters<typeof rewritingProxy>[1], after: "none" | "delete") {
    const box = fx.newMailbox();
    const large = largeMessage();
    fx.dovecot.deliver(box.user, makeMessage(2));
    fx.dovecot.deliver(box.user, large);
    fx.dovecot.deliver(box.user, makeMessage(3));
    const proxy = await rewritingProxy(dovecot.ports.imap, rewrite);
    proxies.push(proxy.server);
    await fx.inbound.addAccount(fx.account(name, box, { protocol: "imap", security: "none" }, { port: proxy.port, after }));
    const account = await fx.inbound.getAccount(name);
    const events = async (type: string) => (await fx.inbound.store.events.list({ accountId: account.id, limit: 100 })).filter((e) => e.type === type);
    return { box, large, account, events };
  }

  // Before, each of these failed its batch with IMAP_MESSAGE_INCOMPLETE on every run: the account never got past it.
  it.each([
    ["more", 4321],
    ["fewer", -4321],
  ])("is stored whole and reported when the server announces %s bytes than it has", async (_label, delta) => {
    const name = `misreported-${delta > 0 ? "larger" : "smaller"}`;
    const { box, large, events } = await accountBehind(name, { fromServer: misreportLargeSizes(delta) }, "delete");
    expect(await fx.inbound.fetch(name)).toMatchObject({ fetched: 3, stored: 3, parseErrors: 0, postActions: 3 });
    expect(fx.dovecot.count(box.user)).toBe(0);
    const stored = (await fx.inbound.listMessages({ account: name, limit: 10 })).items;
    const kept = stored.find((m) => m.subject === "large");
    expect(kept?.size).toBe(Buffer.byteLength(large));
    expect(sha256(await collect(await fx.inbound.rawMessage(kept?.id as string)))).toBe(sha256(large));
    const warnings = await events("source.size_mismatch");
    expect(warnings).toHaveLength(1);
    expect(warnings[0].level).toBe("warn");
    const size = Buffer.byteLength(large);
    expect(warnings[0].data.messages).toEqual([{ uid: 2, announced: size + delta, received: size }]);
    expect(warnings[0].message).toContain(`UID 2: ${size} bytes, announced ${size + delta}`);
    expect(warnings[0].message).toContain("doveadm force-resync");
  });

  it("still fails its batch, storing nothing, when the download is cut short", async () => {
    // Every request for the second megabyte is turned into one for the flags only: the
    // download ends after 1 MB with no word from imapflow, as with a server that drops a chunk.
    const dropSecondChunk = (text: string) => text.replace(/BODY\.PEEK\[\]<1048576\.1048576>/g, "FLAGS");
    const { box, large, events } = await accountBehind("cut-short", { fromClient: dropSecondChunk }, "delete");
    const error = await rejection(fx.inbound.fetch("cut-short"));
    expect(error.code).toBe("IMAP_MESSAGE_INCOMPLETE");
    expect(error.message).toMatch(/stopped sending UID 2 after 1048576 bytes though it holds more/);
    // Its batch (all three) is neither stored nor removed from the server.
    expect((await fx.inbound.listMessages({ account: "cut-short", limit: 10 })).items).toHaveLength(0);
    expect(fx.dovecot.count(box.user)).toBe(3);
    expect(await events("source.size_mismatch")).toHaveLength(0);

    // Straight to the server, the next run takes it whole.
    await fx.inbound.updateAccount("cut-short", { port: dovecot.ports.imap });
    expect(await fx.inbound.fetch("cut-short")).toMatchObject({ stored: 3, postActions: 3 });
    const kept = (await fx.inbound.listMessages({ account: "cut-short", limit: 10 })).items.find((m) => m.subject === "large");
    expect(sha256(await collect(await fx.inbound.rawMessage(kept?.id as string)))).toBe(sha256(large));
  });
});
