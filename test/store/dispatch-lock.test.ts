import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { createDeliveryService } from "../../src/delivery/delivery-service.js";
import { storeMessage, testBox } from "../delivery/delivery-fixture.js";
import { createAccount } from "./fixtures.js";
import { openTestStore } from "./test-databases.js";

/*
 * A dispatch reads the consumers, then inserts their deliveries. Removing a
 * webhook or forgetting a handler in between used to leave open deliveries
 * for a consumer that no longer exists. PostgreSQL only: SQLite runs one
 * writer at a time, so there is no "in between".
 */
describe("changing consumers while a dispatch runs, on PostgreSQL", () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** A store whose delivery inserts take a second, so a dispatch is caught in the middle. */
  async function openSlowInserts() {
    const opened = await openTestStore("postgres");
    cleanups.push(opened.cleanup);
    const client = new pg.Client({ connectionString: opened.target.databaseUrl });
    await client.connect();
    cleanups.push(() => client.end());
    await client.query(`
      create function slow_insert() returns trigger language plpgsql as $$ begin perform pg_sleep(1); return null; end $$;
      create trigger slow_insert before insert on deliveries for each statement execute function slow_insert();`);
    return { store: opened.store, client };
  }

  it("removing a webhook waits for the dispatch and leaves no delivery behind", async () => {
    const { store, client } = await openSlowInserts();
    const service = createDeliveryService({ store, box: testBox().box });
    cleanups.push(() => service.close());
    const hook = await service.addWebhook({ url: "http://127.0.0.1:9/hook", events: ["*"] });
    await storeMessage(store, await createAccount(store, "a"));
    const dispatching = store.deliveries.dispatch(500);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await service.removeWebhook(hook.id);
    expect(await dispatching).toBe(1);
    expect((await client.query("select consumer from deliveries")).rows).toEqual([]);
  });

  it("forgetting a handler waits for the dispatch, so the name registered again starts afresh", async () => {
    const { store, client } = await openSlowInserts();
    await store.deliveries.registerHandler("crm", ["message.received"]);
    await storeMessage(store, await createAccount(store, "a"));
    const dispatching = store.deliveries.dispatch(500);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await store.deliveries.forgetHandler("crm");
    expect(await dispatching).toBe(1);
    expect((await client.query("select consumer from deliveries")).rows).toEqual([]);
  });
});
