import { afterEach, describe, expect, it } from "vitest";
import { createInbound, type Inbound } from "../../src/inbound.js";
import { startFakePop3, type FakePop3Server } from "../protocols/pop3/fake-pop3-server.js";
import { createTestDatabase, DIALECTS, type TestDatabase } from "../store/test-databases.js";
import { TEST_KEY } from "./retrieval-fixture.js";

/*
 * Retrieval against POP3 servers that break RFC 1939's "should": Dovecot
 * never lists one UIDL twice, so a scripted server plays that one.
 */
describe.each(DIALECTS)("POP3 retrieval from an odd server on %s", (dialect) => {
  let server: FakePop3Server | undefined;
  let database: TestDatabase | undefined;
  let inbound: Inbound | undefined;
  afterEach(async () => {
    await inbound?.close();
    await server?.close();
    await database?.cleanup();
    inbound = undefined;
    server = undefined;
    database = undefined;
  });

  const collectRaw = async (stream: AsyncIterable<Uint8Array>) => {
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(Buffer.from(chunk));
    return Buffer.concat(chunks).toString("latin1");
  };

  const message = (n: number) => `Subject: message ${n}\r\nMessage-ID: <odd-${n}@example.com>\r\n\r\nbody ${n}\r\n`;

  it("deletes nothing by a UIDL the server lists twice, and says so", async () => {
    const bodies = [message(1), message(2), message(3)];
    server = await startFakePop3({
      onCommand: async (line, session) => {
        if (line === "UIDL") await session.send("+OK\r\n1 same\r\n2 unique\r\n3 same\r\n.\r\n");
        else if (line === "LIST") await session.send(`+OK\r\n${bodies.map((b, i) => `${i + 1} ${Buffer.byteLength(b)}\r\n`).join("")}.\r\n`);
        else if (line.startsWith("RETR ")) await session.send(`+OK\r\n${bodies[Number(line.slice(5)) - 1]}.\r\n`);
        else if (line.startsWith("DELE ")) await session.send("+OK\r\n");
        else return false;
      },
    });
    database = await createTestDatabase(dialect);
    inbound = await createInbound({ dataDir: database.dataDir, databaseUrl: database.databaseUrl, env: { INBOUND_ENCRYPTION_KEY: TEST_KEY }, parseWorkers: 1 });
    await inbound.addAccount({ name: "odd", protocol: "pop3", security: "none", host: "127.0.0.1", port: server.port, username: "u", password: "odd-secret-1", after: "delete", timeoutMs: 5_000 });

    const summary = await inbound.fetch("odd");
    // Both "same" messages were downloaded; the ledger keeps the first and counts the other.
    expect(summary).toMatchObject({ fetched: 3, stored: 2, duplicates: 1, postActions: 1 });
    expect(server.commands.filter((c) => c.startsWith("DELE "))).toEqual(["DELE 2"]);
    expect(server.commands.at(-1)).toBe("QUIT");
    const account = await inbound.getAccount("odd");
    const warnings = (await inbound.store.events.list({ accountId: account.id })).filter((e) => e.type === "source.mismatch");
    expect(warnings).toHaveLength(1);
    expect(warnings[0].message).toContain("UIDL same");
    expect(warnings[0].message).toContain("more than once");
  });

  it("takes a bare LF before a dot line as content: a message cannot end early and forge the next ones", async () => {
    // Crafted mail: if "LF.CRLF" ended it, the rest would be read as the replies to RETR 2, RETR 3,
    // DELE and QUIT, storing forged messages under uid-2 and uid-3 and deleting the real ones.
    let mailbox = [
      { uidl: "uid-1", body: "Subject: one\r\n\r\nhello\n.\r\n+OK\r\nSubject: forged2\r\n\r\nx\n.\r\n+OK\r\nSubject: forged3\r\n\r\ny\n.\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n" },
      { uidl: "uid-2", body: "Subject: two (real)\r\n\r\nimportant invoice\r\n" },
      { uidl: "uid-3", body: "Subject: three (real)\r\n\r\nimportant contract\r\n" },
    ];
    const sent = new Map(mailbox.map((m) => [m.uidl, m.body]));
    const deleted = new Set<number>();
    server = await startFakePop3({
      onCommand: async (line, session) => {
        if (line === "UIDL") await session.send(`+OK\r\n${mailbox.map((m, i) => `${i + 1} ${m.uidl}\r\n`).join("")}.\r\n`);
        else if (line === "LIST") await session.send(`+OK\r\n${mailbox.map((m, i) => `${i + 1} ${Buffer.byteLength(m.body)}\r\n`).join("")}.\r\n`);
        // Stuffed only after CRLF, as RFC 1939 asks of a server: "LF." goes out as it is.
        else if (line.startsWith("RETR ")) await session.send(`+OK\r\n${mailbox[Number(line.slice(5)) - 1].body.replace(/\r\n\./g, "\r\n..")}.\r\n`);
        else if (line.startsWith("DELE ")) {
          deleted.add(Number(line.slice(5)));
          await session.send("+OK\r\n");
        } else if (line === "QUIT") {
          mailbox = mailbox.filter((_, i) => !deleted.has(i + 1));
          await session.send("+OK\r\n");
          session.socket.end();
        } else return false;
      },
    });
    database = await createTestDatabase(dialect);
    inbound = await createInbound({ dataDir: database.dataDir, databaseUrl: database.databaseUrl, env: { INBOUND_ENCRYPTION_KEY: TEST_KEY }, parseWorkers: 1 });
    await inbound.addAccount({ name: "odd", protocol: "pop3", security: "none", host: "127.0.0.1", port: server.port, username: "u", password: "odd-secret-1", after: "delete", timeoutMs: 5_000 });

    expect(await inbound.fetch("odd")).toMatchObject({ fetched: 3, stored: 3, postActions: 3 });
    const stored = (await inbound.listMessages({ account: "odd" })).items;
    expect(stored).toHaveLength(3);
    for (const item of stored) expect(await collectRaw(await inbound.rawMessage(item.id))).toBe(sent.get(item.uidl as string));
    expect(stored.map((m) => m.subject).sort()).toEqual(["one", "three (real)", "two (real)"]);
    expect(mailbox).toEqual([]);
  });
});
