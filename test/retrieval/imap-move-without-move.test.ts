import type { Server } from "node:net";
import { ImapFlow } from "imapflow";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mailboxPool, startDovecot, type DovecotServer } from "../harness/dovecot.js";
import { rewritingProxy, type ProxyRewrite } from "../harness/rewriting-proxy.js";
import { WITHOUT_MOVE, WITHOUT_UIDPLUS_AND_MOVE } from "../protocols/imap/without-uidplus.js";
import { makeMessage, openRetrievalFixture, type RetrievalFixture } from "./retrieval-fixture.js";

/**
 * Drops the first connection when the server answers OK to the first UID
 * COPY, and keeps that OK from the client: the copy is made, the client
 * never hears so.
 */
function dropAfterFirstCopy(): ProxyRewrite {
  let tag: string | undefined;
  let done = false;
  return {
    fromClient: (text) => {
      const copy = /^(\S+) UID COPY /m.exec(text);
      if (copy && !done && tag === undefined) tag = copy[1];
      return text;
    },
    fromServer: (text, connection) => {
      const ok = tag === undefined || done ? null : new RegExp(`^${tag} OK`, "m").exec(text);
      if (ok === null) return text;
      done = true;
      connection.drop();
      return text.slice(0, ok.index);
    },
  };
}

describe.each([
  ["UIDPLUS but no MOVE", WITHOUT_MOVE],
  ["neither UIDPLUS nor MOVE", WITHOUT_UIDPLUS_AND_MOVE],
])("IMAP move on a server with %s, when the connection drops after a COPY", (_label, capabilities) => {
  let dovecot: DovecotServer;
  let fx: RetrievalFixture;
  const proxies: Server[] = [];
  beforeAll(async () => {
    dovecot = await startDovecot({ users: mailboxPool(2), extraConfig: capabilities });
    fx = await openRetrievalFixture("sqlite", dovecot);
  });
  afterAll(async () => {
    for (const proxy of proxies) proxy.close();
    await fx?.close();
    await dovecot?.stop();
  });

  /** Messages in `folder` by subject. */
  async function subjects(box: { user: string; password: string }, folder: string): Promise<string[]> {
    const client = new ImapFlow({ host: dovecot.host, port: dovecot.ports.imap, secure: false, doSTARTTLS: false, auth: { user: box.user, pass: box.password }, logger: false });
    await client.connect();
    try {
      await client.mailboxOpen(folder);
      const found: string[] = [];
      for await (const m of client.fetch("1:*", { envelope: true })) found.push(m.envelope?.subject ?? "");
      return found.sort();
    } catch {
      return [];
    } finally {
      await client.logout();
    }
  }

  // Before, the dropped COPY was sent again on a new connection: every message twice in "Done".
  it("copies each message once and still moves them all", async () => {
    const box = fx.newMailbox();
    for (let i = 1; i <= 3; i++) fx.dovecot.deliver(box.user, makeMessage(i));
    const proxy = await rewritingProxy(dovecot.ports.imap, dropAfterFirstCopy());
    proxies.push(proxy.server);
    await fx.inbound.addAccount(fx.account("dropped-copy", box, { protocol: "imap", security: "none" }, { port: proxy.port, after: "move", moveTo: "Done" }));
    expect(await fx.inbound.fetch("dropped-copy")).toMatchObject({ stored: 3, postActions: 3 });
    expect(await subjects(box, "Done")).toEqual(["Message 1", "Message 2", "Message 3"]);
    expect(fx.dovecot.count(box.user)).toBe(0);
    expect(await fx.inbound.fetch("dropped-copy")).toMatchObject({ fetched: 0, stored: 0, postActions: 0 });
  });
});
