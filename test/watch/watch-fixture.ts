import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { loadKeyRing } from "../../src/auth/key-ring.js";
import { createSecretBox } from "../../src/auth/secret-box.js";
import { createInbound, type Inbound } from "../../src/inbound.js";
import type { AccountInput } from "../../src/core/account-settings.js";
import { accountCredentials } from "../../src/watch/account-credentials.js";
import { createWatchManager, type WatchManager, type WatchManagerOptions } from "../../src/watch/watch-manager.js";
import type { WatchState } from "../../src/watch/watch-state.js";
import type { WatchTiming } from "../../src/watch/watch-timing.js";
import type { DovecotServer } from "../harness/dovecot.js";
import { createTestDatabase, type DialectName, type TestDatabase } from "../store/test-databases.js";
import { TEST_KEY } from "../retrieval/retrieval-fixture.js";

export { makeMessage } from "../retrieval/retrieval-fixture.js";

/** Short delays so failures, retries and polls happen within a test. */
export const TEST_TIMING: Partial<WatchTiming> = {
  backoffBaseMs: 200,
  backoffMaxMs: 1_000,
  safetyPollMs: 60_000,
  fallbackPollMs: 500,
  refreshMs: 200,
  startupSpacingMs: 5,
  startupSpreadMaxMs: 500,
};

/** An Inbound on a private database plus a watch manager built on it, recording every state change. */
export interface WatchFixture {
  inbound: Inbound;
  database: TestDatabase;
  manager: WatchManager;
  /** Every state change, in order. */
  states: WatchState[];
  /** States of one account, names only. */
  stateNames(accountId: string): string[];
  /** Build another manager on the same store (e.g. a second process's view). */
  createManager(extra?: Partial<WatchManagerOptions>): Promise<WatchManager>;
  /** Account settings for a Dovecot user over plain IMAP (or the given protocol). */
  account(name: string, dovecot: DovecotServer, user: { name: string; password: string }, extra?: Partial<AccountInput>): AccountInput;
  close(): Promise<void>;
}

export async function openWatchFixture(dialect: DialectName, options: Partial<WatchManagerOptions> = {}): Promise<WatchFixture> {
  const database = await createTestDatabase(dialect);
  const env = { INBOUND_ENCRYPTION_KEY: TEST_KEY };
  const inbound = await createInbound({ dataDir: database.dataDir, databaseUrl: database.databaseUrl, env, parseWorkers: 1 });
  const box = createSecretBox(await loadKeyRing({ env, dataDir: database.dataDir, log: () => undefined }));
  const states: WatchState[] = [];
  const managers: WatchManager[] = [];
  const createManager = async (extra: Partial<WatchManagerOptions> = {}) => {
    const manager = createWatchManager({
      store: inbound.store,
      retrieve: (accountId, signal) => inbound.fetch(accountId, { wait: true, signal }),
      credentials: accountCredentials(inbound.store, box),
      ...options,
      ...extra,
      timing: { ...TEST_TIMING, ...options.timing, ...extra.timing },
    });
    managers.push(manager);
    return manager;
  };
  const manager = await createManager();
  manager.onStateChange((s) => states.push(s));
  return {
    inbound,
    database,
    manager,
    states,
    stateNames: (accountId) => states.filter((s) => s.accountId === accountId).map((s) => s.state),
    createManager,
    account(name, dovecot, user, extra = {}) {
      const protocol = extra.protocol ?? "imap";
      const port = protocol === "imap" ? dovecot.ports.imap : protocol === "imaps" ? dovecot.ports.imaps : protocol === "pop3" ? dovecot.ports.pop3 : dovecot.ports.pop3s;
      return { name, protocol, security: "none", host: dovecot.host, port, username: user.name, password: user.password, timeoutMs: 5_000, ...extra };
    },
    async close() {
      for (const m of managers) await m.close();
      await inbound.close();
      await database.cleanup();
    },
  };
}

/** Poll `check` until it returns true. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Sign-in attempts Dovecot logged for `user` (successful or not). */
export function loginAttempts(dovecot: DovecotServer, user: string): number {
  const log = join(dovecot.dir, "dovecot.log");
  if (!existsSync(log)) return 0;
  return readFileSync(log, "utf8").split("\n").filter((line) => /imap-login|pop3-login/.test(line) && line.includes(`user=<${user}>`)).length;
}
