import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Store } from "../../src/store/store.js";
import { createAccount } from "./fixtures.js";
import { DIALECTS, openTestStore } from "./test-databases.js";

describe.each(DIALECTS)("checkpoint repository on %s", (dialect) => {
  let store: Store;
  let cleanup: () => Promise<void>;
  let accountId: string;
  beforeEach(async () => {
    ({ store, cleanup } = await openTestStore(dialect));
    accountId = await createAccount(store);
  });
  afterEach(async () => {
    await cleanup();
  });

  it("has no checkpoint for a folder never fetched", async () => {
    expect(await store.checkpoints.get(accountId, "INBOX")).toBeUndefined();
  });

  it("only advances: a smaller UID under the same UIDVALIDITY is ignored", async () => {
    const db = store.database.db;
    await store.checkpoints.advance(db, accountId, "INBOX", 7, 10);
    await store.checkpoints.advance(db, accountId, "INBOX", 7, 4294967290);
    expect(await store.checkpoints.advance(db, accountId, "INBOX", "7", 5)).toEqual({ uidValidity: "7", lastUid: 4294967290 });
    expect(await store.checkpoints.get(accountId, "INBOX")).toEqual({ uidValidity: "7", lastUid: 4294967290 });
  });

  it("replaces the checkpoint when UIDVALIDITY changes, even with a smaller UID", async () => {
    const db = store.database.db;
    await store.checkpoints.advance(db, accountId, "INBOX", 7, 500);
    await store.checkpoints.advance(db, accountId, "INBOX", 8n, 3);
    expect(await store.checkpoints.get(accountId, "INBOX")).toEqual({ uidValidity: "8", lastUid: 3 });
  });

  it("keeps folders apart and rolls back with its transaction", async () => {
    await store.checkpoints.advance(store.database.db, accountId, "Archive", 1, 9);
    await store
      .transaction(async (trx) => {
        await store.checkpoints.advance(trx, accountId, "INBOX", 1, 50);
        throw new Error("abort");
      })
      .catch(() => undefined);
    expect(await store.checkpoints.get(accountId, "INBOX")).toBeUndefined();
    expect(await store.checkpoints.get(accountId, "Archive")).toEqual({ uidValidity: "1", lastUid: 9 });
  });
});
