import { afterEach, describe, expect, it } from "vitest";
import { newId } from "../../src/core/ids.js";
import { appendOutbox } from "../../src/store/append-outbox.js";
import type { Store } from "../../src/store/store.js";
import { createAccount } from "./fixtures.js";
import { DIALECTS, openTestStore } from "./test-databases.js";

/** An outbox event with a chosen id, as if appended on a machine whose clock read `id`'s time. */
async function appendWithId(store: Store, id: string, accountId: string | null, type = "message.received"): Promise<string> {
  await store.database.db.insertInto("outbox").values({ id, account_id: accountId, type, payload_json: "{}", created_at: new Date().toISOString() }).execute();
  return id;
}

/** The event ids of due lane heads, oldest position first. */
async function dueEvents(store: Store, consumers: string[], now?: Date): Promise<string[]> {
  return (await store.deliveries.due(consumers, 100, now)).map((d) => d.eventId);
}

/** Claim the due head of `eventId` for `owner` and finish it with `outcome` (default: succeeded). */
async function deliver(store: Store, consumer: string, eventId: string, outcome: Parameters<Store["deliveries"]["finish"]>[2] = { status: "succeeded" }): Promise<string> {
  const head = (await store.deliveries.due([consumer], 100)).find((d) => d.eventId === eventId);
  if (!head) throw new Error(`${eventId} is not a due lane head of ${consumer}`);
  expect(await store.deliveries.claim(head.id, "p1", 30_000)).toBe(true);
  await store.deliveries.finish(head.id, "p1", outcome);
  return head.id;
}

describe.each(DIALECTS)("delivery lanes on %s", (dialect) => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  async function open(): Promise<Store> {
    const opened = await openTestStore(dialect);
    cleanup = opened.cleanup;
    return opened.store;
  }

  it("delivers a lane in dispatch order: an event dispatched after another waits for it even when its id is smaller", async () => {
    const store = await open();
    const a = await createAccount(store, "a");
    await store.deliveries.registerHandler("h", ["*"]);
    const now = Date.now();
    // B was made later on its machine's clock but committed (and was dispatched) first.
    const b = await appendWithId(store, newId(now + 2_000), a);
    expect(await store.deliveries.dispatch(10)).toBe(1);
    const [bHead] = await store.deliveries.due(["handler:h"], 10);
    expect(await store.deliveries.claim(bHead.id, "p1", 30_000)).toBe(true);
    const earlier = await appendWithId(store, newId(now + 1_000), a, "account.state_changed");
    expect(earlier < b).toBe(true);
    expect(await store.deliveries.dispatch(10)).toBe(1);

    // B is being delivered: the late event does not become the head beside it.
    expect(await dueEvents(store, ["handler:h"])).toEqual([]);
    await store.deliveries.finish(bHead.id, "p1", { status: "succeeded" });
    expect(await dueEvents(store, ["handler:h"])).toEqual([earlier]);
  });

  it("finds one head per (consumer, account) lane; a head retrying later or leased holds its lane, other lanes go on", async () => {
    const store = await open();
    const accounts = [await createAccount(store, "a"), await createAccount(store, "b"), await createAccount(store, "c")];
    await store.deliveries.registerHandler("h1", ["*"]);
    await store.deliveries.registerHandler("h2", ["*"]);
    const consumers = ["handler:h1", "handler:h2"];
    const events: Record<string, string[]> = {};
    for (let round = 0; round < 3; round++) {
      for (const account of accounts) {
        (events[account] ??= []).push(await store.transaction((trx) => appendOutbox(trx, { accountId: account, type: "message.received", payload: {} })));
      }
      // A service-wide event (no account) has a lane of its own.
      await store.transaction((trx) => appendOutbox(trx, { accountId: null, type: "retrieval.completed", payload: {} }));
    }
    await store.deliveries.dispatch(100);
    const [a, b, c] = accounts;

    const heads = await store.deliveries.due(consumers, 100);
    expect(heads).toHaveLength(8);
    expect(new Set(heads.map((d) => `${d.consumer}/${d.accountId}`)).size).toBe(8);
    for (const account of accounts) expect(heads.filter((d) => d.accountId === account).map((d) => d.eventId)).toEqual([events[account][0], events[account][0]]);
    // Oldest position first, across lanes.
    expect(heads.map((d) => d.eventId)).toEqual([...heads.map((d) => d.eventId)].sort());
    expect((await store.deliveries.due(consumers, 3)).map((d) => d.eventId)).toEqual(heads.slice(0, 3).map((d) => d.eventId));
    // Among hundreds of consumers (more than one query walks), the same heads in the same order.
    const many = [...Array.from({ length: 450 }, (_, i) => `webhook:w${i}`), ...consumers];
    expect((await store.deliveries.due(many, 100)).map((d) => d.id)).toEqual(heads.map((d) => d.id));

    // h1's lane of a fails and retries in a minute; h1's lane of b is being attempted.
    await deliver(store, "handler:h1", events[a][0], { status: "retrying", error: "down", nextAttemptAt: new Date(Date.now() + 60_000) });
    const bHead = heads.find((d) => d.consumer === "handler:h1" && d.accountId === b)!;
    expect(await store.deliveries.claim(bHead.id, "p1", 30_000)).toBe(true);
    const now = await store.deliveries.due(consumers, 100);
    expect(now.filter((d) => d.consumer === "handler:h1").map((d) => d.accountId)).toEqual([c, null]);
    expect(now.filter((d) => d.consumer === "handler:h2").map((d) => d.accountId)).toHaveLength(4);

    // Two minutes on, the retry is due and the lease has run out: both heads are back, nothing behind them.
    const later = await store.deliveries.due(consumers, 100, new Date(Date.now() + 120_000));
    expect(later.filter((d) => d.consumer === "handler:h1" && d.accountId !== null).map((d) => d.eventId).sort()).toEqual([events[a][0], events[b][0], events[c][0]].sort());

    // A lane moves on to its next event once its head is done, and parked does not hold it.
    await deliver(store, "handler:h1", events[c][0]);
    const cHead = (await store.deliveries.due(["handler:h1"], 100)).find((d) => d.accountId === c)!;
    expect(cHead.eventId).toBe(events[c][1]);
    expect(await store.deliveries.claim(cHead.id, "p1", 30_000)).toBe(true);
    await store.deliveries.finish(cHead.id, "p1", { status: "parked", error: "gave up" });
    expect((await store.deliveries.due(["handler:h1"], 100)).find((d) => d.accountId === c)?.eventId).toBe(events[c][2]);
  });

  it("puts a replayed finished delivery at the back of its lane, and leaves a replayed open one in its place", async () => {
    const store = await open();
    const a = await createAccount(store, "a");
    await store.deliveries.registerHandler("h", ["*"]);
    const [e1, e2, e3] = [
      await store.transaction((trx) => appendOutbox(trx, { accountId: a, type: "message.received", payload: {} })),
      await store.transaction((trx) => appendOutbox(trx, { accountId: a, type: "message.received", payload: {} })),
      await store.transaction((trx) => appendOutbox(trx, { accountId: a, type: "message.received", payload: {} })),
    ];
    await store.deliveries.dispatch(10);
    const first = await deliver(store, "handler:h", e1, { status: "parked", error: "gave up" });
    const second = await deliver(store, "handler:h", e2, { status: "retrying", error: "down", nextAttemptAt: new Date(Date.now() + 60_000) });

    await store.deliveries.replay(first);
    expect(await store.deliveries.replay(second)).toMatchObject({ status: "pending", attempts: 0 });
    // e2 kept its place at the head; e1 queues behind e3.
    expect(await dueEvents(store, ["handler:h"])).toEqual([e2]);
    await deliver(store, "handler:h", e2);
    await deliver(store, "handler:h", e3);
    expect(await dueEvents(store, ["handler:h"])).toEqual([e1]);
  });

  it("backfills a fromBeginning handler in the order the dispatcher took the events, before what was dispatched after it", async () => {
    const store = await open();
    const a = await createAccount(store, "a");
    const now = Date.now();
    const b = await appendWithId(store, newId(now + 2_000), a);
    await store.deliveries.dispatch(10);
    const earlier = await appendWithId(store, newId(now + 1_000), a);
    await store.deliveries.dispatch(10);

    const registration = await store.deliveries.registerHandler("archive", ["*"], { fromBeginning: true });
    expect(registration).toMatchObject({ created: true, backfillPending: true, backfillUpTo: 2 });
    // Stored after the registration, but its id is older than it (a late commit, another machine's clock).
    const late = await appendWithId(store, newId(now - 60_000), a);
    const next = await store.transaction((trx) => appendOutbox(trx, { accountId: a, type: "message.received", payload: {} }));
    await store.deliveries.dispatch(10);
    expect(await store.deliveries.backfill({ consumer: "handler:archive", events: ["*"] }, registration.backfillUpTo)).toBe(2);
    // Run again (a crash halfway): nothing is queued twice.
    expect(await store.deliveries.backfill({ consumer: "handler:archive", events: ["*"] }, registration.backfillUpTo)).toBe(2);

    const order: string[] = [];
    for (let i = 0; i < 5; i++) {
      const [head] = await dueEvents(store, ["handler:archive"]);
      if (head === undefined) break;
      order.push(head);
      await deliver(store, "handler:archive", head);
    }
    expect(order).toEqual([b, earlier, late, next]);
  });
});

/*
 * PostgreSQL runs appending transactions side by side: one that took the
 * smaller event id may commit after another's event was dispatched and is
 * being delivered. (SQLite runs one writer at a time.)
 */
describe("delivery lanes with concurrent transactions, on PostgreSQL", () => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  it("an event whose transaction commits after a later-made event was dispatched goes after it, not beside or before it", async () => {
    const opened = await openTestStore("postgres");
    cleanup = opened.cleanup;
    const { store } = opened;
    const a = await createAccount(store, "a");
    await store.deliveries.registerHandler("h", ["*"]);

    let commit!: () => void;
    const committing = new Promise<void>((resolve) => (commit = resolve));
    let appended!: (id: string) => void;
    const stateChanged = new Promise<string>((resolve) => (appended = resolve));
    // A state change is appended first (smaller id) in a transaction that stays open...
    const slow = store.transaction(async (trx) => {
      appended(await appendOutbox(trx, { accountId: a, type: "account.state_changed", payload: { state: "running" } }));
      await committing;
    });
    const early = await stateChanged;
    // ...while a message's transaction appends after it and commits.
    const received = await store.transaction((trx) => appendOutbox(trx, { accountId: a, type: "message.received", payload: {} }));
    expect(early < received).toBe(true);

    expect(await store.deliveries.dispatch(10)).toBe(1);
    const [head] = await store.deliveries.due(["handler:h"], 10);
    expect(head.eventId).toBe(received);
    expect(await store.deliveries.claim(head.id, "p1", 30_000)).toBe(true);

    commit();
    await slow;
    expect(await store.deliveries.dispatch(10)).toBe(1);
    expect(await dueEvents(store, ["handler:h"])).toEqual([]);
    await store.deliveries.finish(head.id, "p1", { status: "succeeded" });
    expect(await dueEvents(store, ["handler:h"])).toEqual([early]);
  });
});
