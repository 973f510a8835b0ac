import { spawn } from "node:child_process";
import { getEventListeners } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { InboundError } from "../../src/core/inbound-error.js";
import { createLeaseRunLock, createProcessRunLock } from "../../src/retrieval/run-lock.js";
import { DIALECTS, openTestStore } from "../store/test-databases.js";
import type { Store } from "../../src/store/store.js";

describe("process run lock", () => {
  it("leaves no abort listener behind on the caller's signal once a wait is over", async () => {
    const lock = createProcessRunLock();
    // One long-lived signal, as a watch passes to every retrieval it runs.
    const signal = new AbortController().signal;
    for (let i = 0; i < 5; i++) {
      const releaseHolder = await lock.acquire("a");
      const waiting = lock.acquire("a", { wait: true, signal });
      await releaseHolder();
      const release = await waiting;
      await release();
    }
    expect(getEventListeners(signal, "abort")).toHaveLength(0);
  });

  it("stops waiting when the signal aborts, and the account is free afterwards", async () => {
    const lock = createProcessRunLock();
    const controller = new AbortController();
    const releaseHolder = await lock.acquire("a");
    const waiting = lock.acquire("a", { wait: true, signal: controller.signal });
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ code: "ABORTED" });
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
    await releaseHolder();
    const release = await lock.acquire("a");
    await release();
  });
});

describe.each(DIALECTS)("lease run lock on %s", (dialect) => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  async function storeWithAccount(): Promise<{ store: Store; accountId: string }> {
    const opened = await openTestStore(dialect);
    cleanup = opened.cleanup;
    const account = await opened.store.accounts.create(
      { name: "a", protocol: "imap", host: "h", port: 143, security: "none", tlsVerify: true, tlsCa: null, username: "u", folder: "INBOX", strategy: "oldest", limit: 50, all: false, batchSize: 50, timeoutMs: 30000, after: "none", moveTo: null, markSeen: false, sanitize: true, inlineImages: false, enabled: true, pollIntervalSeconds: null },
      "sealed",
    );
    return { store: opened.store, accountId: account.id };
  }

  it("signals the holder when its lease is no longer its own, so the run stops", async () => {
    const { store, accountId } = await storeWithAccount();
    const lock = createLeaseRunLock({ leases: store.leases, ttlMs: 300, renewEveryMs: 50 });
    const release = await lock.acquire(accountId);
    expect(release.lost?.aborted).toBe(false);
    await new Promise((r) => setTimeout(r, 400));
    // Renewals keep it while all is well.
    expect(release.lost?.aborted).toBe(false);
    // Another process took it over (say this one was paused longer than the lease).
    await store.database.db.updateTable("run_leases").set({ owner: "elsewhere|1|x|1" }).where("account_id", "=", accountId).execute();
    await new Promise((r) => setTimeout(r, 300));
    expect(release.lost?.aborted).toBe(true);
    expect(release.lost?.reason).toMatchObject({ code: "ACCOUNT_BUSY" });
    expect((release.lost?.reason as Error).message).toContain("taken over by another process");
    await release();
  });

  it("tells a second process-like holder that the account is busy, and lets it in after release", async () => {
    const { store, accountId } = await storeWithAccount();
    // Two locks stand for two processes: they share only the database.
    const first = createLeaseRunLock({ leases: store.leases });
    const second = createLeaseRunLock({ leases: store.leases });
    const release = await first.acquire(accountId);
    const busy = await second.acquire(accountId).then(() => undefined, (e: unknown) => e);
    expect(busy).toBeInstanceOf(InboundError);
    expect((busy as InboundError).code).toBe("ACCOUNT_BUSY");
    const waiting = second.acquire(accountId, { wait: true });
    await new Promise((r) => setTimeout(r, 100));
    await release();
    const releaseSecond = await waiting;
    await releaseSecond();
  });

  it("takes over at once from a holder on this machine whose process died", async () => {
    const { store, accountId } = await storeWithAccount();
    const dead = spawn(process.execPath, ["-e", "0"]);
    await new Promise((r) => dead.on("exit", r));
    await store.leases.tryAcquire(accountId, `${(await import("node:os")).hostname()}|${dead.pid}|x`, 60_000);
    const lock = createLeaseRunLock({ leases: store.leases });
    const release = await lock.acquire(accountId);
    await release();
  });

  it("waits for a live holder elsewhere until its lease expires", async () => {
    const { store, accountId } = await storeWithAccount();
    await store.leases.tryAcquire(accountId, "other-host|1|x", 600);
    const lock = createLeaseRunLock({ leases: store.leases, pollMs: 50 });
    await expect(lock.acquire(accountId)).rejects.toMatchObject({ code: "ACCOUNT_BUSY" });
    const release = await lock.acquire(accountId, { wait: true });
    await release();
  });
});
