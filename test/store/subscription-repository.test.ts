import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Store } from "../../src/store/store.js";
import { DIALECTS, openTestStore } from "./test-databases.js";

describe.each(DIALECTS)("subscription repository on %s", (dialect) => {
  let store: Store;
  let cleanup: () => Promise<void>;
  let accountId: string;

  beforeAll(async () => {
    ({ store, cleanup } = await openTestStore(dialect));
    const account = await store.accounts.create({ name: "subs", protocol: "imap", host: "localhost", port: 143, security: "none", tlsVerify: true, tlsCa: null, username: "u", folder: "INBOX", strategy: "oldest", limit: 50, all: false, batchSize: 50, timeoutMs: 30000, after: "none", moveTo: null, markSeen: false, sanitize: true, inlineImages: false, enabled: true, pollIntervalSeconds: null }, "sealed");
    accountId = account.id;
  });
  afterAll(async () => cleanup?.());

  it("keeps one row per account however often it is subscribed, moving requestedAt", async () => {
    const first = await store.subscriptions.subscribe(accountId);
    expect(first.created).toBe(true);
    await new Promise((r) => setTimeout(r, 5));
    const second = await store.subscriptions.subscribe(accountId);
    expect(second.created).toBe(false);
    expect(second.subscription.createdAt).toBe(first.subscription.createdAt);
    expect(second.subscription.requestedAt > first.subscription.requestedAt).toBe(true);
    expect(await store.subscriptions.list()).toEqual([second.subscription]);
  });

  it("unsubscribing removes the row once and is a no-op afterwards", async () => {
    expect(await store.subscriptions.unsubscribe(accountId)).toEqual({ removed: true });
    expect(await store.subscriptions.unsubscribe(accountId)).toEqual({ removed: false });
    expect(await store.subscriptions.find(accountId)).toBeUndefined();
  });

  it("goes with its account", async () => {
    await store.subscriptions.subscribe(accountId);
    await store.accounts.remove(accountId);
    expect(await store.subscriptions.list()).toEqual([]);
  });
});
