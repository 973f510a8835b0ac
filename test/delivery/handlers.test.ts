import { Writable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../../src/core/logger.js";
import { createDeliveryService, type DeliveryService } from "../../src/delivery/delivery-service.js";
import type { ReceivedMessage } from "../../src/delivery/received-message.js";
import { InboundError } from "../../src/core/inbound-error.js";
import { appendOutbox } from "../../src/store/append-outbox.js";
import { createStore, type Store } from "../../src/store/store.js";
import { createAccount } from "../store/fixtures.js";
import { DIALECTS, openTestStore, type TestDatabase } from "../store/test-databases.js";
import { FAST_RETRY, storeMessage, testBox, waitFor } from "./delivery-fixture.js";

describe.each(DIALECTS)("in-process handlers (%s)", (dialect) => {
  let store: Store;
  let cleanup: () => Promise<void>;
  let target: TestDatabase;
  const extraStores: Store[] = [];
  const services: DeliveryService[] = [];
  const service = (overrides: Partial<Parameters<typeof createDeliveryService>[0]> = {}) => {
    const s = createDeliveryService({ store, box: testBox().box, handlerRetry: FAST_RETRY, pollIntervalMs: 50, ...overrides });
    services.push(s);
    return s;
  };

  beforeEach(async () => {
    ({ store, cleanup, target } = await openTestStore(dialect));
  });
  afterEach(async () => {
    for (const s of services.splice(0)) await s.close();
    for (const s of extraStores.splice(0)) await s.close();
    await cleanup();
  });

  it("hands every stored message to onMessage once, in stored order per account", async () => {
    const a = await createAccount(store, "a");
    const b = await createAccount(store, "b");
    const delivery = service();
    const seen: ReceivedMessage[] = [];
    await delivery.onMessage(async (m) => {
      seen.push(m);
      await new Promise((r) => setTimeout(r, Math.random() * 5));
    }).ready;
    await delivery.start();
    const stored: Array<{ account: string; eventId: string; messageId: string }> = [];
    for (let i = 0; i < 12; i++) {
      const account = i % 3 === 0 ? b : a;
      stored.push({ account, ...(await storeMessage(store, account)) });
      delivery.notify();
    }
    await waitFor(() => seen.length >= 12, "12 messages");
    await new Promise((r) => setTimeout(r, 200));
    expect(seen).toHaveLength(12);
    for (const account of [a, b]) {
      expect(seen.filter((m) => m.accountId === account).map((m) => m.eventId)).toEqual(stored.filter((s) => s.account === account).map((s) => s.eventId));
    }
    const first = seen.find((m) => m.id === stored[1].messageId)!;
    expect(first.subject).toMatch(/^Message /);
    expect(first.from?.[0].address).toBe("ann@example.com");
    expect(first.account.name).toBe("a");
    expect(first.attachments.map((x) => x.filename)).toEqual(["invoice.pdf"]);
    expect(delivery.stats()).toMatchObject({ delivered: 12, failures: 0, parked: 0 });
  });

  it("skips an event whose message is no longer stored, but treats a handler's own MESSAGE_NOT_FOUND as a failure", async () => {
    const a = await createAccount(store, "a");
    const delivery = service();
    const seen: string[] = [];
    await delivery.onMessage(async (m) => {
      seen.push(m.eventId);
      // The handler looks up something else that is not there: its own failure, to retry.
      throw new InboundError("MESSAGE_NOT_FOUND", { message: "No stored message has the id the CRM asked for." });
    }, { name: "lookup" }).ready;
    const gone = await storeMessage(store, a);
    const kept = await storeMessage(store, a);
    await store.database.db.deleteFrom("messages").where("id", "=", gone.messageId).execute();
    await delivery.start();
    await waitFor(async () => (await delivery.listDeliveries({ failed: true })).items.some((d) => d.status === "parked"), "the failing handler's event to be parked");
    expect(seen).not.toContain(gone.eventId);
    expect(seen.filter((id) => id === kept.eventId)).toHaveLength(FAST_RETRY.maxAttempts);
    const rows = (await delivery.listDeliveries()).items;
    expect(rows.find((d) => d.eventId === gone.eventId)?.status).toBe("succeeded");
    expect(rows.find((d) => d.eventId === kept.eventId)).toMatchObject({ status: "parked" });
    expect(rows.find((d) => d.eventId === kept.eventId)?.lastError).toContain("HANDLER_FAILED");
  });

  it("counts a handler that never settles as failed after handlerTimeoutMs, aborts its signal, and frees the lane", async () => {
    const a = await createAccount(store, "a");
    const delivery = service({ handlerTimeoutMs: 100 });
    const aborted: string[] = [];
    const done: string[] = [];
    let stuck: string | undefined;
    await delivery.onMessage(async (m, context) => {
      if (m.eventId === stuck) {
        context.signal.addEventListener("abort", () => aborted.push(m.eventId));
        await new Promise(() => undefined); // hangs: an unanswered call with no timeout of its own
      }
      done.push(m.eventId);
    }, { name: "hangs" }).ready;
    const first = await storeMessage(store, a);
    stuck = first.eventId;
    const second = await storeMessage(store, a);
    await delivery.start();
    await waitFor(() => done.includes(second.eventId), "the event behind the hanging one", 20_000);
    const parked = (await delivery.listDeliveries({ failed: true })).items;
    expect(parked).toHaveLength(1);
    expect(parked[0]).toMatchObject({ eventId: first.eventId, status: "parked", attempts: FAST_RETRY.maxAttempts });
    expect(parked[0].lastError).toContain("did not finish within 100 ms");
    expect(aborted).toHaveLength(FAST_RETRY.maxAttempts);
  });

  it("retries a throwing handler with backoff, parks it after the limit, lists it as failed, and replay delivers it", async () => {
    const a = await createAccount(store, "a");
    const b = await createAccount(store, "b");
    const delivery = service();
    const attempts: Array<{ eventId: string; at: number }> = [];
    const delivered: string[] = [];
    let poisoned: string | undefined;
    let healed = false;
    await delivery.onMessage(async (m) => {
      attempts.push({ eventId: m.eventId, at: Date.now() });
      if (m.eventId === poisoned && !healed) throw new Error("CRM is down");
      delivered.push(m.eventId);
    }, { name: "crm" }).ready;
    const bad = await storeMessage(store, a);
    poisoned = bad.eventId;
    const after = await storeMessage(store, a);
    const other = await storeMessage(store, b);
    await delivery.start();

    await waitFor(async () => (await delivery.listDeliveries({ failed: true })).items.some((d) => d.status === "parked"), "the poisoned event to be parked");
    const tries = attempts.filter((x) => x.eventId === bad.eventId);
    expect(tries).toHaveLength(FAST_RETRY.maxAttempts);
    // Backoff: each wait at least half the exponential delay (equal jitter).
    for (let i = 1; i < tries.length; i++) expect(tries[i].at - tries[i - 1].at).toBeGreaterThanOrEqual(Math.min(FAST_RETRY.maxDelayMs, FAST_RETRY.baseDelayMs * 2 ** (i - 1)) / 2 - 5);
    // The other account was not held up; the same account's later event waited for the parked one.
    const otherAt = attempts.find((x) => x.eventId === other.eventId)!.at;
    expect(otherAt).toBeLessThan(tries[1].at);
    await waitFor(() => delivered.includes(after.eventId), "the later event after parking");
    expect(attempts.find((x) => x.eventId === after.eventId)!.at).toBeGreaterThan(tries[tries.length - 1].at);

    const failed = await delivery.listDeliveries({ failed: true });
    expect(failed.items).toHaveLength(1);
    const parked = failed.items[0];
    expect(parked).toMatchObject({ eventId: bad.eventId, consumer: "handler:crm", status: "parked", attempts: FAST_RETRY.maxAttempts, accountId: a });
    expect(parked.lastError).toContain("HANDLER_FAILED: CRM is down");
    expect(delivery.stats()).toMatchObject({ parked: 1, failures: FAST_RETRY.maxAttempts });

    healed = true;
    const replayed = await delivery.replay(parked.id);
    expect(replayed.status).toBe("pending");
    await waitFor(() => delivered.includes(bad.eventId), "the replayed event");
    // The handler returned; the delivery row is marked right after, in its own transaction.
    await waitFor(async () => (await delivery.getDelivery(parked.id)).status === "succeeded", "the replayed delivery to be marked succeeded");
    expect((await delivery.listDeliveries({ failed: true })).items).toHaveLength(0);
  });

  it("a name registered after start-up resumes where it left off; a new name starts with events from now on", async () => {
    const a = await createAccount(store, "a");
    const first = service();
    await first.start();
    const crm: string[] = [];
    const off = first.onMessage((m) => void crm.push(m.eventId), { name: "crm" });
    await off.ready;
    const e1 = await storeMessage(store, a);
    first.notify();
    await waitFor(() => crm.length === 1, "the first event");
    off();
    await first.close();

    // While nobody handles "crm", its events wait.
    const e2 = await storeMessage(store, a);
    const e3 = await storeMessage(store, a);
    const second = service();
    await second.start();
    const late: string[] = [];
    await second.onMessage((m) => void late.push(m.eventId), { name: "audit" }).ready;
    second.onMessage((m) => void crm.push(m.eventId), { name: "crm" });
    const e4 = await storeMessage(store, a);
    second.notify();
    await waitFor(() => crm.length === 4 && late.length === 1, "crm to catch up and audit to get the new event");
    expect(crm).toEqual([e1.eventId, e2.eventId, e3.eventId, e4.eventId]);
    expect(late).toEqual([e4.eventId]);

    const replayAll: string[] = [];
    await second.onMessage((m) => void replayAll.push(m.eventId), { name: "backfill", fromBeginning: true }).ready;
    await waitFor(() => replayAll.length === 4, "fromBeginning to deliver the stored events");
    expect(replayAll).toEqual([e1.eventId, e2.eventId, e3.eventId, e4.eventId]);
    expect(() => second.onMessage(() => undefined, { name: "crm" })).toThrow(expect.objectContaining({ code: "HANDLER_NAME_TAKEN" }));
  });

  it("a fromBeginning backfill that a crash cut short is finished at the next registration, once", async () => {
    const a = await createAccount(store, "a");
    const stored = [await storeMessage(store, a), await storeMessage(store, a), await storeMessage(store, a)];
    // A process registered "archive" with fromBeginning and died before its backfill finished.
    expect(await store.deliveries.registerHandler("archive", ["message.received"], { fromBeginning: true })).toMatchObject({ created: true, backfillPending: true });

    const delivery = service();
    await delivery.start();
    const seen: string[] = [];
    await delivery.onMessage((m) => void seen.push(m.eventId), { name: "archive", fromBeginning: true }).ready;
    delivery.notify();
    await waitFor(() => seen.length === 3, "the backfilled events");
    expect(seen).toEqual(stored.map((m) => m.eventId));
    // Done now: a later registration owes nothing more.
    expect(await store.deliveries.registerHandler("archive", ["message.received"], { fromBeginning: true })).toMatchObject({ created: false, backfillPending: false });
  });

  it("stops an attempt whose lease another process took, and says so", async () => {
    const a = await createAccount(store, "a");
    const lines: string[] = [];
    const log = createLogger({ level: "warn", destination: new Writable({ write: (chunk, _encoding, done) => void (lines.push(String(chunk)), done()) }) });
    const delivery = service({ leaseMs: 300, log });
    let aborted = false;
    let started = false;
    await delivery.onMessage(async (_m, { signal }) => {
      started = true;
      await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
      aborted = true;
    }, { name: "slow" }).ready;
    await delivery.start();
    await storeMessage(store, a);
    delivery.notify();
    await waitFor(() => started, "the attempt to start");
    // Another process claims the row: from now on this process's renewals find it gone.
    const renew = store.deliveries.renew;
    store.deliveries.renew = async () => false;
    try {
      await waitFor(() => aborted, "the attempt to be stopped");
    } finally {
      store.deliveries.renew = renew;
    }
    expect(lines.join("")).toContain("delivery lease lost: another process holds it now");
  });

  it("a fromBeginning backfill runs beside delivery: other consumers go on and close() does not wait for it", async () => {
    const a = await createAccount(store, "a");
    await storeMessage(store, a);
    const backfill = store.deliveries.backfill;
    let stopped: AbortSignal | undefined;
    // A backfill over a huge outbox, cut short only by close().
    store.deliveries.backfill = async (_filter, _upTo, signal) => {
      stopped = signal;
      await new Promise<void>((resolve) => signal?.addEventListener("abort", () => resolve(), { once: true }));
      return 0;
    };
    try {
      const delivery = service();
      const live: string[] = [];
      await delivery.onMessage((m) => void live.push(m.eventId), { name: "live" }).ready;
      delivery.onMessage(() => undefined, { name: "archive", fromBeginning: true });
      await delivery.start();
      const later = await storeMessage(store, a);
      delivery.notify();
      await waitFor(() => live.includes(later.eventId), "the live handler to get the new event while the backfill runs");
      expect(stopped?.aborted).toBe(false);
      // Before, close() waited for the backfill to end on its own, here never.
      await delivery.close();
      expect(stopped?.aborted).toBe(true);
    } finally {
      store.deliveries.backfill = backfill;
    }
    // Still owed: the next registration backfills again.
    expect(await store.deliveries.registerHandler("archive", ["message.received"], { fromBeginning: true })).toMatchObject({ backfillPending: true });
  });

  it("on(type) gets other event types with their payload", async () => {
    const a = await createAccount(store, "a");
    const delivery = service();
    const events: Array<{ id: string; type: string; payload: Record<string, unknown> }> = [];
    await delivery.on("retrieval.failed", (e) => void events.push(e)).ready;
    await delivery.start();
    const id = await store.transaction((trx) => appendOutbox(trx, { accountId: a, type: "retrieval.failed", payload: { code: "IMAP_AUTH_FAILED" } }));
    await storeMessage(store, a);
    delivery.notify();
    await waitFor(() => events.length === 1, "the retrieval.failed event");
    await new Promise((r) => setTimeout(r, 150));
    expect(events).toEqual([expect.objectContaining({ id, type: "retrieval.failed", payload: { code: "IMAP_AUTH_FAILED" } })]);
  });

  it("two services on one database deliver each event once and keep per-account order", async () => {
    const accounts = [await createAccount(store, "a"), await createAccount(store, "b"), await createAccount(store, "c")];
    const seen: Array<{ eventId: string; accountId: string }> = [];
    const one = service();
    // A second store with its own connections on the same database, as another process would have.
    const otherStore = await createStore({ databaseUrl: target.databaseUrl, dataDir: target.dataDir });
    extraStores.push(otherStore);
    const second = createDeliveryService({ store: otherStore, box: testBox().box, pollIntervalMs: 20 });
    services.push(second);
    for (const s of [one, second]) {
      await s.onMessage(async (m) => {
        seen.push({ eventId: m.eventId, accountId: m.accountId });
        await new Promise((r) => setTimeout(r, 2));
      }, { name: "shared" }).ready;
      await s.start();
    }
    const stored: Array<{ eventId: string; account: string }> = [];
    for (let i = 0; i < 30; i++) {
      const account = accounts[i % 3];
      stored.push({ account, ...(await storeMessage(store, account)) });
    }
    one.notify();
    second.notify();
    await waitFor(() => seen.length >= 30, "30 deliveries");
    await new Promise((r) => setTimeout(r, 300));
    expect(seen).toHaveLength(30);
    for (const account of accounts) {
      expect(seen.filter((s) => s.accountId === account).map((s) => s.eventId)).toEqual(stored.filter((s) => s.account === account).map((s) => s.eventId));
    }
    expect(one.stats().delivered + second.stats().delivered).toBe(30);
  });
});

