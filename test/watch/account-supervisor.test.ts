import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InboundError } from "../../src/core/inbound-error.js";
import type { RetrieveFn } from "../../src/watch/retrieval-runner.js";
import { mailboxPool, startDovecot, type DovecotServer } from "../harness/dovecot.js";
import { DIALECTS } from "../store/test-databases.js";
import { loginAttempts, makeMessage, openWatchFixture, waitFor, type WatchFixture } from "./watch-fixture.js";

describe.each(DIALECTS)("an account's watch on %s", (dialect) => {
  let dovecot: DovecotServer;
  const users = mailboxPool(3, "v");

  beforeAll(async () => {
    dovecot = await startDovecot({ users, ssl: false });
  });
  afterAll(async () => {
    await dovecot?.stop();
  });

  it("keeps retrying through an error that is not the account's fault (STORE_FAILED); a wrong password still ends in failed", async () => {
    let fx!: WatchFixture;
    /** Accounts whose retrieval throws this, and how often it did. */
    const failWith = new Map<string, InboundError>();
    const thrown = new Map<string, number>();
    const retrieve: RetrieveFn = async (accountId, signal) => {
      const error = failWith.get(accountId);
      if (error) {
        thrown.set(accountId, (thrown.get(accountId) ?? 0) + 1);
        throw error;
      }
      return fx.inbound.fetch(accountId, { wait: true, signal });
    };
    fx = await openWatchFixture(dialect, { retrieve });
    try {
      // A damaged stored file breaks one run; nothing about the account needs fixing.
      const damaged = new InboundError("STORE_FAILED", { message: "A pending message's stored file is damaged." });
      const [user, other] = users;
      const account = await fx.inbound.addAccount(fx.account("store-failed", dovecot, user));
      failWith.set(account.id, damaged);
      await fx.manager.subscribe("store-failed");
      await waitFor("a second try, or failed", () => (thrown.get(account.id) ?? 0) >= 2 || fx.stateNames(account.id).includes("failed"));
      expect(fx.stateNames(account.id)).not.toContain("failed");
      expect(fx.states.find((s) => s.accountId === account.id && s.state === "retrying")).toMatchObject({ errorCode: "STORE_FAILED" });
      failWith.delete(account.id);
      await waitFor("subscribed once the store works", () => fx.manager.states().some((s) => s.accountId === account.id && s.state === "subscribed"));

      // The same error on a retrieval after new mail: the watch stays and tries again.
      const before = thrown.get(account.id) ?? 0;
      failWith.set(account.id, damaged);
      dovecot.deliver(user.name, makeMessage(1, { subject: "after the damage" }));
      await waitFor("a second try, or failed", () => (thrown.get(account.id) ?? 0) >= before + 2 || fx.stateNames(account.id).includes("failed"));
      expect(fx.stateNames(account.id)).not.toContain("failed");
      failWith.delete(account.id);
      await waitFor("the message", async () => (await fx.inbound.listMessages({ account: "store-failed" })).items.length === 1);

      // An account problem reported by the retrieval still ends the watch, after one try.
      const locked = await fx.inbound.addAccount(fx.account("auth-failed", dovecot, other));
      failWith.set(locked.id, new InboundError("IMAP_AUTH_FAILED"));
      await fx.manager.subscribe("auth-failed");
      await waitFor("failed", () => fx.manager.states().some((s) => s.accountId === locked.id && s.state === "failed"));
      expect(fx.manager.states().find((s) => s.accountId === locked.id)).toMatchObject({ state: "failed", errorCode: "IMAP_AUTH_FAILED" });
      expect(thrown.get(locked.id)).toBe(1);
    } finally {
      await fx.close();
    }
  });

  it("backs off further each time the server drops the connection soon after sign-in, and starts over after a connection that lasted", async () => {
    const stableConnectionMs = 4_000;
    // Jitter pinned near its top, so each wait is about its ceiling: 0.25 s, 0.5 s, 1 s, 2 s, ...
    const fx = await openWatchFixture(dialect, { random: () => 0.99, timing: { backoffBaseMs: 250, backoffMaxMs: 30_000, stableConnectionMs } });
    try {
      const user = users[2];
      const account = await fx.inbound.addAccount(fx.account("dropped", dovecot, user));
      const subscribedCount = () => fx.stateNames(account.id).filter((s) => s === "subscribed").length;
      const retryingAttempts = () => fx.states.filter((s) => s.accountId === account.id && s.state === "retrying").map((s) => s.attempt);
      await fx.manager.subscribe("dropped");
      for (let drop = 1; drop <= 4; drop++) {
        await waitFor(`subscribed ${drop}`, () => subscribedCount() === drop);
        // Dropped right after sign-in and catch-up, as a misbehaving server or proxy does.
        await dovecot.kick(user.name);
        await waitFor(`retrying after drop ${drop}`, () => retryingAttempts().length === drop);
      }
      // Without the fix every drop started over at attempt 1: a sign-in and full catch-up every fraction of a second.
      expect(retryingAttempts()).toEqual([1, 2, 3, 4]);
      // The fourth wait is about 2 s: no sign-in comes during the next second.
      const logins = loginAttempts(dovecot, user.name);
      await new Promise((r) => setTimeout(r, 1_000));
      expect(loginAttempts(dovecot, user.name)).toBe(logins);

      // A connection that stays up longer than stableConnectionMs resets the backoff.
      await waitFor("subscribed again", () => subscribedCount() === 5);
      await new Promise((r) => setTimeout(r, stableConnectionMs + 1_000));
      await dovecot.kick(user.name);
      await waitFor("retrying after the long connection", () => retryingAttempts().length === 5);
      expect(retryingAttempts().at(-1)).toBe(1);
      await waitFor("subscribed after the reset", () => subscribedCount() === 6);
    } finally {
      await fx.close();
    }
  });
});
