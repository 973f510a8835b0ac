import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { appendOutbox } from "../../src/store/event-repository.js";
import type { Store } from "../../src/store/store.js";
import { createAccount } from "./fixtures.js";
import { DIALECTS, openTestStore } from "./test-databases.js";

describe.each(DIALECTS)("event repository on %s", (dialect) => {
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

  it("lists an account's events newest first with their data", async () => {
    await store.events.append({ accountId, type: "account.state", level: "info", message: "running" });
    await store.transaction((trx) => store.events.append(trx, { accountId, type: "mailbox.reset", level: "warn", message: "UIDVALIDITY changed", data: { from: "7", to: "8" } }));
    await store.events.append({ accountId: null, type: "service.start", level: "info", message: "started" });
    const events = await store.events.list({ accountId });
    expect(events.map((e) => e.type)).toEqual(["mailbox.reset", "account.state"]);
    expect(events[0]).toMatchObject({ level: "warn", data: { from: "7", to: "8" } });
    expect(await store.events.list({ limit: 1 })).toHaveLength(1);
  });

  it("writes outbox entries only when their transaction commits", async () => {
    await store.transaction((trx) => appendOutbox(trx, { accountId, type: "message.stored", payload: { messageId: "m1" } }));
    await store
      .transaction(async (trx) => {
        await appendOutbox(trx, { accountId, type: "message.stored", payload: { messageId: "m2" } });
        throw new Error("rollback");
      })
      .catch(() => undefined);
    const rows = await store.database.db.selectFrom("outbox").select(["type", "payload_json"]).execute();
    expect(rows).toEqual([{ type: "message.stored", payload_json: JSON.stringify({ messageId: "m1" }) }]);
  });
});
