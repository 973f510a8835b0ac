import { afterEach, describe, expect, it } from "vitest";
import { createDatabaseClock, type DatabaseClock } from "../../src/store/database-clock.js";
import { createDeliveryRepository } from "../../src/store/delivery-repository.js";
import { createLeaseRepository } from "../../src/store/lease-repository.js";
import type { Store } from "../../src/store/store.js";
import { storeMessage } from "../delivery/delivery-fixture.js";
import { createAccount } from "./fixtures.js";
import { DIALECTS, openTestStore } from "./test-databases.js";

const AHEAD_MS = 120_000;

describe("the database clock", () => {
  it("keeps the offset of the server's clock, read in the middle of the round trip", async () => {
    let local = 1_000_000;
    const clock = createDatabaseClock({
      localMs: () => local,
      readServerMs: async () => {
        local += 10; // 10 ms there, 10 ms back
        const server = 5_000_000;
        local += 10;
        return server;
      },
    });
    await clock.sync();
    // Read at local 1,000,010 (the middle of 1,000,000 … 1,000,020) the server said 5,000,000.
    expect(clock.offsetMs).toBe(3_999_990);
    expect(clock.now()).toBe(local + 3_999_990);
    expect(clock.fromLocal(1_000_020 + 60_000)).toBe(5_000_010 + 60_000);
    clock.close();
  });

  it("is this machine's clock when the database lives in this process", async () => {
    const clock = createDatabaseClock();
    await clock.sync();
    expect(clock.offsetMs).toBe(0);
    clock.close();
  });
});

describe("leases and deliveries between machines whose clocks differ, on PostgreSQL", () => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  async function open(): Promise<Store> {
    const opened = await openTestStore("postgres");
    cleanup = opened.cleanup;
    return opened.store;
  }

  /** Another machine on the same database whose own clock runs two minutes ahead. */
  async function machineAhead(store: Store, synced: boolean): Promise<DatabaseClock> {
    const { capabilities, db } = store.database;
    const readServerMs = synced ? capabilities.readServerClockMs?.bind(capabilities, db) : undefined;
    const clock = createDatabaseClock({ localMs: () => Date.now() + AHEAD_MS, readServerMs });
    await clock.sync();
    return clock;
  }

  it("a machine whose clock runs ahead still sees another machine's run lease as live", async () => {
    const store = await open();
    const account = await createAccount(store, "a");
    expect(Math.abs(store.database.clock.offsetMs)).toBeLessThan(1_000);
    expect(await store.leases.tryAcquire(account, "machine-a:1", 30_000)).toEqual({ acquired: true });

    const ahead = await machineAhead(store, true);
    expect(ahead.offsetMs).toBeLessThan(-AHEAD_MS + 1_000);
    const leasesThere = createLeaseRepository(store.database.db, "run_leases", ahead);
    expect(await leasesThere.tryAcquire(account, "machine-b:1", 30_000)).toMatchObject({ acquired: false, holder: { owner: "machine-a:1" } });

    // On its own clock, that machine would have judged the lease over and taken it.
    const unsynced = createLeaseRepository(store.database.db, "run_leases", await machineAhead(store, false));
    expect(await unsynced.tryAcquire(account, "machine-b:1", 30_000)).toEqual({ acquired: true });
    ahead.close();
  });

  it("a machine whose clock runs ahead neither claims a delivery another holds nor retries it early", async () => {
    const store = await open();
    await store.deliveries.registerHandler("h", ["message.received"]);
    await storeMessage(store, await createAccount(store, "a"));
    await store.deliveries.dispatch(10);
    const [due] = await store.deliveries.due(["handler:h"], 10);
    expect(await store.deliveries.claim(due.id, "machine-a:1", 30_000)).toBe(true);

    const ahead = await machineAhead(store, true);
    const deliveriesThere = createDeliveryRepository(store.database.db, ahead);
    expect(await deliveriesThere.due(["handler:h"], 10)).toEqual([]);
    expect(await deliveriesThere.claim(due.id, "machine-b:1", 30_000)).toBe(false);

    // A retry that machine schedules a minute out, on its own clock, is a minute out on the database's.
    expect(await deliveriesThere.renew(due.id, "machine-a:1", 30_000)).toBe(true);
    await deliveriesThere.finish(due.id, "machine-a:1", { status: "retrying", error: "down", httpStatus: null, nextAttemptAt: new Date(Date.now() + AHEAD_MS + 60_000) });
    const retry = Date.parse((await store.deliveries.get(due.id)).nextAttemptAt);
    expect(Math.abs(retry - (Date.now() + 60_000))).toBeLessThan(5_000);
    expect(await store.deliveries.claim(due.id, "machine-a:1", 30_000)).toBe(false);
    ahead.close();
  });
});

describe.each(DIALECTS)("the store's clock on %s", (dialect) => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  it("opens with the database's clock: no offset on SQLite, the server's on PostgreSQL", async () => {
    const opened = await openTestStore(dialect);
    cleanup = opened.cleanup;
    const { store } = opened;
    if (dialect === "sqlite") expect(store.database.clock.offsetMs).toBe(0);
    // The test server runs on this machine, so its clock and ours agree to within the round trip.
    else expect(Math.abs(store.database.clock.offsetMs)).toBeLessThan(1_000);
  });
});
