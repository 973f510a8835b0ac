import { randomBytes } from "node:crypto";
import { createInbound, type Inbound } from "../../src/inbound.js";
import type { AccountInput } from "../../src/core/account-settings.js";
import { mailboxPool, startDovecot, type DovecotServer } from "../harness/dovecot.js";
import { createTestDatabase, type DialectName, type TestDatabase } from "../store/test-databases.js";

/** A fixed key so tests never write a key file of their own by accident. */
export const TEST_KEY = Buffer.alloc(32, 7).toString("base64");

/** A generated message with a unique Message-ID. */
export function makeMessage(n: number, options: { subject?: string; body?: string; date?: Date } = {}): string {
  const date = options.date ?? new Date(Date.UTC(2026, 0, 1, 0, 0, n));
  return [
    `From: Sender ${n} <sender${n}@example.com>`,
    "To: Support <support@example.com>",
    `Subject: ${options.subject ?? `Message ${n}`}`,
    `Date: ${date.toUTCString().replace("GMT", "+0000")}`,
    `Message-ID: <msg-${n}-${randomBytes(4).toString("hex")}@example.com>`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "",
    options.body ?? `Body of message ${n}.`,
    "",
  ].join("\r\n");
}

/** A Dovecot plus an Inbound on a private database of the given dialect. */
export interface RetrievalFixture {
  dovecot: DovecotServer;
  database: TestDatabase;
  inbound: Inbound;
  /** A fresh mailbox user (its own Maildir), so tests never see each other's mail. Start the Dovecot with {@link mailboxPool} users. */
  newMailbox(): { user: string; password: string };
  /** Account settings for `user` over the given protocol/security, trusting the test certificate. */
  account(name: string, user: { user: string; password: string }, mode: { protocol: AccountInput["protocol"]; security?: AccountInput["security"] }, extra?: Partial<AccountInput>): AccountInput;
  close(): Promise<void>;
}

export async function openRetrievalFixture(dialect: DialectName, dovecot?: DovecotServer): Promise<RetrievalFixture> {
  const server = dovecot ?? (await startDovecot({ users: mailboxPool(40) }));
  const unused = server.users.filter((u) => u.name.startsWith("box"));
  const database = await createTestDatabase(dialect);
  const inbound = await createInbound({ dataDir: database.dataDir, databaseUrl: database.databaseUrl, env: { INBOUND_ENCRYPTION_KEY: TEST_KEY }, parseWorkers: 2 });
  return {
    dovecot: server,
    database,
    inbound,
    newMailbox() {
      const next = unused.shift();
      if (!next) throw new Error("The test Dovecot has no unused mailbox left; start it with a larger mailboxPool().");
      return { user: next.name, password: next.password };
    },
    account(name, user, mode, extra = {}) {
      const ports: Record<string, number> = { imap: server.ports.imap, imaps: server.ports.imaps, pop3: server.ports.pop3, pop3s: server.ports.pop3s };
      return {
        name,
        protocol: mode.protocol,
        security: mode.security,
        host: server.host,
        port: ports[mode.protocol],
        username: user.user,
        password: user.password,
        tlsCa: server.certPem,
        timeoutMs: 15_000,
        ...extra,
      };
    },
    async close() {
      await inbound.close();
      await database.cleanup();
      if (!dovecot) await server.stop();
    },
  };
}
