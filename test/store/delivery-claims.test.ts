import { afterEach, describe, expect, it } from "vitest";
import type { Store } from "../../src/store/store.js";
import { storeMessage } from "../delivery/delivery-fixture.js";
import { createAccount } from "./fixtures.js";
import { DIALECTS, openTestStore } from "./test-databases.js";

describe.each(DIALECTS)("claiming and replaying deliveries on %s", (dialect) => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  /** A fresh store (cleaned up after the test) holding one delivery row, for a handler consumer. */
  async function openWithDelivery(): Promise<{ store: Store; id: string }> {
    const opened = await openTestStore(dialect);
    cleanup = opened.cleanup;
    const { store } = opened;
    await store.deliveries.registerHandler("h", ["message.received"]);
    await storeMessage(store, await createAccount(store, "a"));
    await store.deliveries.dispatch(10);
    const [due] = await store.deliveries.due(["handler:h"], 10);
    return { store, id: due.id };
  }

  it("does not claim a row set to retry later, even from a stale list of due rows", async () => {
    const { store, id } = await openWithDelivery();
    expect(await store.deliveries.claim(id, "p1", 30_000)).toBe(true);
    await store.deliveries.finish(id, "p1", { status: "retrying", error: "down", httpStatus: null, nextAttemptAt: new Date(Date.now() + 60_000) });
    // Another process read the row as due before that: its claim must not skip the backoff.
    expect(await store.deliveries.claim(id, "p2", 30_000)).toBe(false);
    expect((await store.deliveries.get(id)).status).toBe("retrying");
  });

  it("refuses to replay a delivery while an attempt holds it, and replays it after", async () => {
    const { store, id } = await openWithDelivery();
    expect(await store.deliveries.claim(id, "p1", 30_000)).toBe(true);
    await expect(store.deliveries.replay(id)).rejects.toMatchObject({ code: "DELIVERY_BUSY" });
    await store.deliveries.finish(id, "p1", { status: "parked", error: "gave up", httpStatus: null });
    expect(await store.deliveries.replay(id)).toMatchObject({ status: "pending", attempts: 0 });
    await expect(store.deliveries.replay("nope")).rejects.toMatchObject({ code: "DELIVERY_NOT_FOUND" });
  });
});
