import type { Kysely } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { newId } from "../../src/core/ids.js";
import { appendOutbox } from "../../src/store/append-outbox.js";
import { laneOrderMigration } from "../../src/store/migrations/0010-lane-order.js";
import type { Store } from "../../src/store/store.js";
import { createAccount } from "./fixtures.js";
import { DIALECTS, openTestStore } from "./test-databases.js";

const AT = "2025-01-01T00:00:00.000Z";

/** A delivery row as migration 0003 made them: no lane position. */
function oldDelivery(consumer: string, eventId: string, accountId: string, status: string) {
  return {
    id: newId(), consumer, event_id: eventId, event_type: "message.received", account_key: accountId, status, attempts: status === "pending" ? 0 : 1,
    next_attempt_at: AT, last_error: null, last_status: null, lease_owner: null, lease_expires_at: null, created_at: AT, updated_at: AT, completed_at: status === "succeeded" ? AT : null,
  };
}

/** Deliver a lane to its end, head by head, and return its event ids in the order they went. */
async function drain(store: Store, consumer: string, accountId: string): Promise<string[]> {
  const order: string[] = [];
  for (;;) {
    const head = (await store.deliveries.due([consumer], 100)).find((d) => d.accountId === accountId);
    if (!head) return order;
    order.push(head.eventId);
    expect(await store.deliveries.claim(head.id, "p1", 30_000)).toBe(true);
    await store.deliveries.finish(head.id, "p1", { status: "succeeded" });
  }
}

describe.each(DIALECTS)("migration 0010 (lane order) on %s", (dialect) => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  it("numbers existing events and deliveries in event-id order, so open lanes keep their order and new events queue behind", async () => {
    const opened = await openTestStore(dialect);
    cleanup = opened.cleanup;
    const { store } = opened;
    const db = store.database.db as unknown as Kysely<any>;
    const a = await createAccount(store, "a");
    const b = await createAccount(store, "b");
    const t = Date.parse(AT);
    const [e1, e2, e3, e4, e5] = [1, 2, 3, 4, 5].map((ms) => newId(t + ms));

    // The schema as it was before, with deliveries queued by event id, inserted out of that order.
    await laneOrderMigration.down!(db);
    for (const [id, account] of [[e1, a], [e2, a], [e3, b], [e4, a], [e5, b]]) {
      await db.insertInto("outbox").values({ id, account_id: account, type: "message.received", payload_json: "{}", created_at: AT, dispatched_at: id === e5 ? null : AT }).execute();
    }
    await db.insertInto("delivery_handlers").values([
      { name: "h", events_json: '["*"]', start_after: "", created_at: AT, last_seen_at: AT, backfill_pending: 0 },
      { name: "archive", events_json: '["*"]', start_after: e3, created_at: AT, last_seen_at: AT, backfill_pending: 1 },
    ]).execute();
    await db.insertInto("deliveries").values([
      oldDelivery("handler:h", e4, a, "pending"),
      oldDelivery("handler:h", e2, a, "pending"),
      oldDelivery("handler:h", e1, a, "succeeded"),
      oldDelivery("handler:h", e3, b, "retrying"),
      // Queued by a backfill before the dispatcher took its event.
      oldDelivery("handler:h", e5, b, "pending"),
    ]).execute();
    await laneOrderMigration.up(db);

    const outbox = await store.database.db.selectFrom("outbox").select(["id", "dispatch_seq"]).orderBy("id").execute();
    expect(outbox.map((r) => [r.id, r.dispatch_seq === null ? null : Number(r.dispatch_seq)])).toEqual([[e1, 1], [e2, 2], [e3, 3], [e4, 4], [e5, null]]);
    const lanes = await store.database.db.selectFrom("deliveries").select(["event_id", "lane_seq"]).orderBy("lane_seq").execute();
    expect(lanes.map((r) => [r.event_id, Number(r.lane_seq)])).toEqual([[e1, 1], [e2, 2], [e3, 3], [e4, 4], [e5, 5]]);
    expect(await store.deliveries.due(["handler:h"], 10)).toMatchObject([{ eventId: e2 }, { eventId: e3 }]);
    // A backfill still owed now covers everything dispatched so far, and fan-out the rest.
    expect(await store.deliveries.registerHandler("archive", ["*"], { fromBeginning: true })).toMatchObject({ created: false, backfillPending: true, backfillUpTo: 5, startAfter: "" });

    const e6 = await store.transaction((trx) => appendOutbox(trx, { accountId: a, type: "message.received", payload: {} }));
    expect(await store.deliveries.dispatch(10)).toBe(2);
    expect(await drain(store, "handler:h", a)).toEqual([e2, e4, e6]);
    expect(await drain(store, "handler:h", b)).toEqual([e3, e5]);
  });
});
