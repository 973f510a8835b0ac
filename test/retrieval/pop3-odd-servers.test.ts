import { afterEach, describe, expect, it } from "vitest";
import { createInbound, type Inbound } from "../../src/inbound.js";
import { startFakePop3, type FakePop3Server } from "../protocols/pop3/fake-pop3-server.js";
import { createTestDatabase, DIALECTS, type TestDatabase } from "../store/test-databases.js";
import { TEST_KEY } from "./retrieval-fixture.js";

/*
 * Retrieval against POP3 servers that do what Dovecot cannot be made to do:
 * list one UIDL twice, refuse RETR of one message, enforce LOGIN-DELAY or
 * keep the mailbox locked for a moment after QUIT. A scripted server plays them.
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

  /** A server listing messages 1 and 3 under one UIDL ("same"), message 2 under its own. */
  function startSharedUidlServer() {
    const bodies = [message(1), message(2), message(3)];
    return startFakePop3({
      onCommand: async (line, session) => {
        if (line === "UIDL") await session.send("+OK\r\n1 same\r\n2 unique\r\n3 same\r\n.\r\n");
        else if (line === "LIST") await session.send(`+OK\r\n${bodies.map((b, i) => `${i + 1} ${Buffer.byteLength(b)}\r\n`).join("")}.\r\n`);
        else if (line.startsWith("RETR ")) await session.send(`+OK\r\n${bodies[Number(line.slice(5)) - 1]}.\r\n`);
        else if (line.startsWith("DELE ")) await session.send("+OK\r\n");
        else return false;
      },
    });
  }

  /**
   * A scripted mailbox that behaves as RFC 1939 says: DELE only marks, QUIT
   * removes the marked messages, and the next session numbers the rest anew.
   * `pass` answers each PASS (default +OK); `retr` may refuse a RETR by UIDL;
   * `top` answers TOP n 0 by UIDL (default: TOP is an unknown command).
   */
  const startMailbox = async (count: number, script: { capabilities?: string[]; pass?: (login: number) => string; retr?: (uidl: string) => string | undefined; top?: (uidl: string, header: string) => string } = {}) => {
    const state = { messages: Array.from({ length: count }, (_, i) => ({ uidl: `uid-${i + 1}`, body: message(i + 1) })), logins: 0 };
    let deleted = new Set<number>();
    server = await startFakePop3({
      capabilities: script.capabilities,
      onCommand: async (line, session) => {
        const { messages } = state;
        if (line.startsWith("PASS ")) {
          deleted = new Set();
          await session.send(script.pass?.(++state.logins) ?? "+OK\r\n");
        } else if (line === "UIDL") await session.send(`+OK\r\n${messages.map((m, i) => `${i + 1} ${m.uidl}\r\n`).join("")}.\r\n`);
        else if (line === "LIST") await session.send(`+OK\r\n${messages.map((m, i) => `${i + 1} ${Buffer.byteLength(m.body)}\r\n`).join("")}.\r\n`);
        else if (line.startsWith("RETR ")) {
          const m = messages[Number(line.slice(5)) - 1];
          await session.send(script.retr?.(m.uidl) ?? `+OK\r\n${m.body}.\r\n`);
        } else if (line.startsWith("TOP ") && script.top) {
          const m = messages[Number(line.split(" ")[1]) - 1];
          await session.send(script.top(m.uidl, m.body.slice(0, m.body.indexOf("\r\n\r\n") + 4)));
        } else if (line.startsWith("DELE ")) {
          deleted.add(Number(line.slice(5)));
          await session.send("+OK\r\n");
        } else if (line === "QUIT") {
          state.messages = messages.filter((_, i) => !deleted.has(i + 1));
          await session.send("+OK\r\n");
          session.socket.end();
        } else return false;
      },
    });
    return state;
  };

  const openInbound = async (extra: { batchSize?: number; after?: "none" | "delete" } = {}) => {
    database = await createTestDatabase(dialect);
    inbound = await createInbound({ dataDir: database.dataDir, databaseUrl: database.databaseUrl, env: { INBOUND_ENCRYPTION_KEY: TEST_KEY }, parseWorkers: 1 });
    await inbound.addAccount({ name: "odd", protocol: "pop3", security: "none", host: "127.0.0.1", port: server!.port, username: "u", password: "odd-secret-1", after: "delete", timeoutMs: 5_000, ...extra });
    return inbound;
  };

  const eventsOf = async (type: string) => {
    const account = await inbound!.getAccount("odd");
    return (await inbound!.store.events.list({ accountId: account.id })).filter((e) => e.type === type);
  };

  // After `accounts update` points the account at another mailbox, its first run matches by headers read with TOP.
  it("after a mailbox change, fetches only what TOP shows is not stored; a refused TOP of one message fetches that one", async () => {
    await startMailbox(3, { top: (uidl, header) => (uidl === "uid-2" ? "-ERR [SYS/TEMP] busy\r\n" : `+OK\r\n${header}.\r\n`) });
    await openInbound({ after: "none" });
    expect(await inbound!.fetch("odd")).toMatchObject({ stored: 3 });
    await inbound!.updateAccount("odd", { username: "u2" });

    expect(await inbound!.fetch("odd")).toMatchObject({ fetched: 1, stored: 1, duplicates: 0 });
    const [reset] = await eventsOf("mailbox.reset");
    expect(reset.message).toMatch(/2 of 3 message\(s\) there matched stored ones, the rest will be fetched/);
    expect(await inbound!.fetch("odd")).toMatchObject({ fetched: 0, stored: 0 });
  });

  it("after a mailbox change on a server without TOP, fetches everything again and says so", async () => {
    await startMailbox(2);
    await openInbound({ after: "none" });
    expect(await inbound!.fetch("odd")).toMatchObject({ stored: 2 });
    await inbound!.updateAccount("odd", { username: "u2" });

    expect(await inbound!.fetch("odd")).toMatchObject({ fetched: 2, stored: 2, duplicates: 0 });
    const resets = await eventsOf("mailbox.reset");
    expect(resets).toHaveLength(1);
    expect(resets[0].message).toMatch(/the server refused TOP \(.*unknown command.*\), so all of them will be fetched/);
    expect(await eventsOf("account.mailbox_changed")).toHaveLength(1);
  });

  it("skips a message the server refuses to RETR, takes the rest of its batch, and tries it again next run", async () => {
    let refusing = true;
    const mailbox = await startMailbox(5, { retr: (uidl) => (uidl === "uid-2" && refusing ? "-ERR [SYS/PERM] message unavailable\r\n" : undefined) });
    // Two batches, so the refusal sits in a batch that is committed, deleted and quit before the next.
    await openInbound({ batchSize: 2 });

    expect(await inbound!.fetch("odd")).toMatchObject({ fetched: 4, stored: 4, duplicates: 0, postActions: 4 });
    expect(mailbox.messages.map((m) => m.uidl)).toEqual(["uid-2"]);
    const stored = (await inbound!.listMessages({ account: "odd" })).items;
    expect(stored.map((m) => m.uidl).sort()).toEqual(["uid-1", "uid-3", "uid-4", "uid-5"]);
    for (const item of stored) expect(await collectRaw(await inbound!.rawMessage(item.id))).toBe(message(Number((item.uidl as string).slice(4))));
    const [refused, ...more] = await eventsOf("source.refused");
    expect(more).toEqual([]);
    expect(refused.level).toBe("warn");
    expect(refused.message).toContain("UIDL uid-2");
    expect(refused.message).toContain("-ERR [SYS/PERM] message unavailable");
    expect(refused.message).toContain("next run");
    expect(await eventsOf("retrieval.failed")).toEqual([]);

    // The refusal was transient: the next run takes the message like any other.
    refusing = false;
    expect(await inbound!.fetch("odd")).toMatchObject({ fetched: 1, stored: 1, duplicates: 0, postActions: 1 });
    expect(mailbox.messages).toEqual([]);
    expect((await inbound!.listMessages({ account: "odd" })).items).toHaveLength(5);
    expect(await eventsOf("source.refused")).toHaveLength(1);
  });

  it("keeps one session for the whole run when the server announces LOGIN-DELAY, and QUITs once", async () => {
    // The server holds the user to its LOGIN-DELAY: a second login in the same run is refused.
    const mailbox = await startMailbox(5, {
      capabilities: ["USER", "UIDL", "PIPELINING", "RESP-CODES", "LOGIN-DELAY 900"],
      pass: (login) => (login === 1 ? "+OK\r\n" : "-ERR [LOGIN-DELAY] wait 900 seconds between logins\r\n"),
    });
    await openInbound({ batchSize: 2 });

    expect(await inbound!.fetch("odd")).toMatchObject({ fetched: 5, stored: 5, duplicates: 0, postActions: 5 });
    expect(mailbox.messages).toEqual([]);
    expect(mailbox.logins).toBe(1);
    const commands = server!.commands;
    expect(commands.filter((c) => c === "QUIT")).toHaveLength(1);
    expect(commands.at(-1)).toBe("QUIT");
    // One session: message numbers never change, so each DELE names the message its RETR took.
    expect(commands.filter((c) => c.startsWith("DELE ")).sort()).toEqual(["DELE 1", "DELE 2", "DELE 3", "DELE 4", "DELE 5"]);
    expect((await inbound!.listMessages({ account: "odd" })).items).toHaveLength(5);
  });

  it("logs in again after a batch's QUIT when the mailbox is briefly still locked ([IN-USE])", async () => {
    const mailbox = await startMailbox(4, {
      capabilities: ["USER", "UIDL", "PIPELINING", "RESP-CODES"],
      pass: (login) => (login === 2 ? "-ERR [IN-USE] mailbox is locked by another session\r\n" : "+OK\r\n"),
    });
    await openInbound({ batchSize: 2 });

    expect(await inbound!.fetch("odd")).toMatchObject({ fetched: 4, stored: 4, duplicates: 0, postActions: 4 });
    expect(mailbox.messages).toEqual([]);
    expect(mailbox.logins).toBe(3);
    expect(server!.commands.filter((c) => c === "QUIT")).toHaveLength(2);
  });

  it("deletes nothing by a UIDL the server lists twice, and says so", async () => {
    server = await startSharedUidlServer();
    inbound = await openInbound({ after: "delete" });

    const summary = await inbound.fetch("odd");
    // Both "same" messages were downloaded; the ledger keeps the first and counts the other.
    expect(summary).toMatchObject({ fetched: 3, stored: 2, duplicates: 1, postActions: 1 });
    expect(server.commands.filter((c) => c.startsWith("DELE "))).toEqual(["DELE 2"]);
    expect(server.commands.at(-1)).toBe("QUIT");
    const warnings = await eventsOf("source.mismatch");
    expect(warnings).toHaveLength(1);
    expect(warnings[0].message).toContain("UIDL same");
    expect(warnings[0].message).toContain("more than once");
  });

  it("says once, with after=none, that of two messages sharing a UIDL only the first was stored", async () => {
    server = await startSharedUidlServer();
    inbound = await openInbound({ after: "none" });

    expect(await inbound.fetch("odd")).toMatchObject({ fetched: 3, stored: 2, duplicates: 1 });
    expect(await inbound.fetch("odd")).toMatchObject({ fetched: 0, stored: 0 });
    const warnings = await eventsOf("source.mismatch");
    expect(warnings).toHaveLength(1);
    expect(warnings[0].message).toContain("message 1 (UIDL same), message 3 (UIDL same)");
    expect(warnings[0].message).toContain("only the first with each UIDL is stored");
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
    inbound = await openInbound({ after: "delete" });

    expect(await inbound.fetch("odd")).toMatchObject({ fetched: 3, stored: 3, postActions: 3 });
    const stored = (await inbound.listMessages({ account: "odd" })).items;
    expect(stored).toHaveLength(3);
    for (const item of stored) expect(await collectRaw(await inbound.rawMessage(item.id))).toBe(sent.get(item.uidl as string));
    expect(stored.map((m) => m.subject).sort()).toEqual(["one", "three (real)", "two (real)"]);
    expect(mailbox).toEqual([]);
  });
});
