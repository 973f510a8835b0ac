import { Writable, Readable } from "node:stream";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerWatchCommands } from "../../src/cli/watch-command.js";
import type { CliIo } from "../../src/cli/cli-output.js";
import { createInbound, type Inbound } from "../../src/inbound.js";
import { mailboxPool, startDovecot, type DovecotServer } from "../harness/dovecot.js";
import { TEST_KEY } from "../retrieval/retrieval-fixture.js";
import { createTestDatabase, DIALECTS, type TestDatabase } from "../store/test-databases.js";
import { makeMessage, waitFor } from "./watch-fixture.js";

function sink(): Writable & { text: string } {
  const out = new Writable({
    write(chunk, _encoding, done) {
      out.text += String(chunk);
      done();
    },
  }) as Writable & { text: string };
  out.text = "";
  return out;
}

describe.each(DIALECTS)("inbound subscribe / unsubscribe / watch on %s", (dialect) => {
  let dovecot: DovecotServer;
  let database: TestDatabase;
  const users = mailboxPool(2, "c");
  const env = { INBOUND_ENCRYPTION_KEY: TEST_KEY, INBOUND_LOG_LEVEL: "silent" };

  beforeAll(async () => {
    dovecot = await startDovecot({ users, ssl: false });
    database = await createTestDatabase(dialect);
    const inbound = await createInbound({ dataDir: database.dataDir, databaseUrl: database.databaseUrl, env });
    try {
      for (const [i, user] of users.entries()) {
        await inbound.addAccount({ name: `cli${i}`, protocol: "imap", security: "none", host: dovecot.host, port: dovecot.ports.imap, username: user.name, password: user.password, timeoutMs: 5_000 });
      }
    } finally {
      await inbound.close();
    }
  });
  afterAll(async () => {
    await database?.cleanup();
    await dovecot?.stop();
  });

  /** Run one command line the way program.ts will, with `--json` as a global flag. */
  async function run(args: string[], signal?: AbortSignal): Promise<{ stdout: string; stderr: string }> {
    const stdout = sink();
    const stderr = sink();
    const io: CliIo = { stdout, stderr, stdin: Readable.from([]), env };
    const program = new Command("inbound").option("--json").exitOverride();
    const withInbound = async <T,>(work: (inbound: Inbound) => Promise<T>): Promise<T> => {
      const inbound = await createInbound({ dataDir: database.dataDir, databaseUrl: database.databaseUrl, env });
      try {
        return await work(inbound);
      } finally {
        await inbound.close();
      }
    };
    registerWatchCommands(program, { io, dataDir: () => database.dataDir, json: () => Boolean(program.opts().json), withInbound, signal });
    const done = program.parseAsync(args, { from: "user" });
    await done;
    return { stdout: stdout.text, stderr: stderr.text };
  }

  it("subscribe persists the subscription once; unsubscribe removes it and is a no-op the second time", async () => {
    const first = JSON.parse((await run(["--json", "subscribe", "cli0"])).stdout);
    expect(first).toMatchObject({ account: "cli0", subscribed: true, created: true });
    const again = JSON.parse((await run(["--json", "subscribe", "cli0"])).stdout);
    expect(again).toMatchObject({ created: false });
    expect((await run(["unsubscribe", "cli0"])).stdout).toMatch(/Unsubscribed cli0/);
    expect((await run(["unsubscribe", "cli0"])).stdout).toMatch(/was not subscribed; nothing changed/);
  });

  it("watch prints each message as it is stored, one JSON line each, and stops cleanly when cancelled", async () => {
    const stop = new AbortController();
    const stdout = sink();
    const stderr = sink();
    const io: CliIo = { stdout, stderr, stdin: Readable.from([]), env };
    const program = new Command("inbound").option("--json").exitOverride();
    const withInbound = async <T,>(work: (inbound: Inbound) => Promise<T>): Promise<T> => {
      const inbound = await createInbound({ dataDir: database.dataDir, databaseUrl: database.databaseUrl, env });
      try {
        return await work(inbound);
      } finally {
        await inbound.close();
      }
    };
    registerWatchCommands(program, { io, dataDir: () => database.dataDir, json: () => Boolean(program.opts().json), withInbound, signal: stop.signal });
    const running = program.parseAsync(["--json", "watch", "cli1"], { from: "user" });
    await waitFor("subscribed", () => stderr.text.includes("cli1: subscribed"));
    dovecot.deliver(users[1].name, makeMessage(1, { subject: "first while watching" }));
    dovecot.deliver(users[1].name, makeMessage(2, { subject: "second while watching" }));
    await waitFor("two lines", () => stdout.text.trim().split("\n").filter(Boolean).length === 2);
    stop.abort();
    await running;
    const lines = stdout.text.trim().split("\n").map((l) => JSON.parse(l) as { subject: string; account: string; id: string; from: Array<{ address: string }> });
    expect(lines.map((l) => l.subject)).toEqual(["first while watching", "second while watching"]);
    expect(lines[0]).toMatchObject({ account: "cli1", from: [{ address: "sender1@example.com" }] });
    expect(stderr.text).toContain("cli1: stopped");
  });
});
