import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InboundError } from "../../src/core/inbound-error.js";
import type { RetrieveFn } from "../../src/watch/retrieval-runner.js";
import { mailboxPool, startDovecot, type DovecotServer } from "../harness/dovecot.js";
import { DIALECTS } from "../store/test-databases.js";
import { loginAttempts, makeMessage, openWatchFixture, waitFor, type WatchFixture } from "./watch-fixture.js";

/** IMAP connections Dovecot holds open for `user` right now. */
function openImapConnections(dovecot: DovecotServer, user: string): number {
  const out = execFileSync("doveadm", ["-c", join(dovecot.dir, "dovecot.conf"), "who", "-1", user], { encoding: "utf8" });
  return out.split("\n").filter((line) => line.startsWith(`${user} `) && /\bimap\b/.test(line)).length;
}

describe.each(DIALECTS)("watching mailboxes on %s", (dialect) => {
  let dovecot: DovecotServer;
  let noIdle: DovecotServer;
  let fx: WatchFixture;
  const users = mailboxPool(20, "w");
  let next = 0;
  const newUser = () => users[next++];

  beforeAll(async () => {
    dovecot = await startDovecot({ users, ssl: false });
    noIdle = await startDovecot({ users: mailboxPool(3, "p"), ssl: false, extraConfig: "imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE LITERAL+ UIDPLUS MOVE\n" });
    fx = await openWatchFixture(dialect);
  });
  afterAll(async () => {
    await fx?.close();
    await dovecot?.stop();
    await noIdle?.stop();
  });

  const storedSubjects = async (name: string) => (await fx.inbound.listMessages({ account: name, limit: 100 })).items.map((m) => m.subject).sort();
  const outboxCount = async (accountId: string, type: string) =>
    (await fx.inbound.store.database.db.selectFrom("outbox").select("id").where("account_id", "=", accountId).where("type", "=", type).execute()).length;

  it("stores a message delivered to a subscribed account once, with one message.received event", async () => {
    const user = newUser();
    dovecot.deliver(user.name, makeMessage(1, { subject: "before subscribing" }));
    const account = await fx.inbound.addAccount(fx.account("sub-once", dovecot, user));
    const result = await fx.manager.subscribe("sub-once");
    expect(result).toMatchObject({ accountId: account.id, created: true, started: true });
    await waitFor("subscribed", () => fx.manager.states().some((s) => s.accountId === account.id && s.state === "subscribed"));
    // The catch-up on connect took what was there before.
    expect(await storedSubjects("sub-once")).toEqual(["before subscribing"]);

    dovecot.deliver(user.name, makeMessage(2, { subject: "while watching" }));
    await waitFor("the new message", async () => (await storedSubjects("sub-once")).length === 2);
    // Give a duplicate run (safety poll, coalesced run) a chance to show up, then count.
    await new Promise((r) => setTimeout(r, 500));
    expect(await storedSubjects("sub-once")).toEqual(["before subscribing", "while watching"]);
    expect(await outboxCount(account.id, "message.received")).toBe(2);

    const stored = await fx.inbound.getAccount("sub-once");
    expect(stored.state).toBe("subscribed");
    expect(stored.stateDetail).toContain("IDLE");
    const events = await fx.inbound.store.events.list({ accountId: account.id });
    expect(events.filter((e) => e.type === "account.state_changed").map((e) => e.data.state)).toEqual(["subscribed", "connecting"]);
    expect(await outboxCount(account.id, "account.state_changed")).toBe(2);
    expect((await fx.inbound.store.subscriptions.find(account.id))?.accountId).toBe(account.id);
  });

  it("subscribing twice keeps one subscription and one IDLE connection", async () => {
    const user = newUser();
    const account = await fx.inbound.addAccount(fx.account("sub-twice", dovecot, user));
    await fx.manager.subscribe("sub-twice");
    const second = await fx.manager.subscribe("sub-twice");
    expect(second).toMatchObject({ created: false, started: false });
    await waitFor("subscribed", () => fx.manager.states().some((s) => s.accountId === account.id && s.state === "subscribed"));
    expect(fx.manager.states().filter((s) => s.accountId === account.id)).toHaveLength(1);
    expect(fx.stateNames(account.id).filter((s) => s === "subscribed")).toHaveLength(1);
    // The catch-up retrieval has logged out; what remains is the IDLE connection.
    await waitFor("one connection", () => openImapConnections(dovecot, user.name) === 1, 5_000);
    expect((await fx.inbound.store.subscriptions.list()).filter((s) => s.accountId === account.id)).toHaveLength(1);
  });

  it("unsubscribe stops the watch: a message delivered afterwards is not fetched", async () => {
    const user = newUser();
    const account = await fx.inbound.addAccount(fx.account("unsub", dovecot, user));
    await fx.manager.subscribe("unsub");
    await waitFor("subscribed", () => fx.manager.states().some((s) => s.accountId === account.id && s.state === "subscribed"));
    expect(await fx.manager.unsubscribe("unsub")).toEqual({ accountId: account.id, removed: true });
    expect(fx.manager.states().some((s) => s.accountId === account.id)).toBe(false);
    expect((await fx.inbound.getAccount("unsub")).state).toBe("stopped");
    await waitFor("the IDLE connection to close", () => openImapConnections(dovecot, user.name) === 0, 5_000);

    dovecot.deliver(user.name, makeMessage(3, { subject: "after unsubscribing" }));
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await storedSubjects("unsub")).toEqual([]);
    // Unsubscribing again is a no-op.
    expect(await fx.manager.unsubscribe("unsub")).toEqual({ accountId: account.id, removed: false });
  });

  it("a wrong password ends in failed, says so, and does not retry", async () => {
    const user = newUser();
    const account = await fx.inbound.addAccount(fx.account("bad-password", dovecot, { name: user.name, password: "wrong" }));
    const before = loginAttempts(dovecot, user.name);
    await fx.manager.subscribe("bad-password");
    await waitFor("failed", () => fx.manager.states().some((s) => s.accountId === account.id && s.state === "failed"));
    await new Promise((r) => setTimeout(r, 3_000));
    expect(loginAttempts(dovecot, user.name) - before).toBeLessThanOrEqual(1);
    const state = fx.manager.states().find((s) => s.accountId === account.id)!;
    expect(state).toMatchObject({ state: "failed", errorCode: "IMAP_AUTH_FAILED" });
    expect(fx.stateNames(account.id)).toEqual(["connecting", "failed"]);
    const stored = await fx.inbound.getAccount("bad-password");
    expect(stored.state).toBe("failed");
    expect(stored.stateDetail).toMatch(/rejected the user name or password.*Not retrying/);

    // Fixing the password and subscribing again starts a new watch.
    await fx.inbound.updateAccount("bad-password", { password: user.password });
    expect(await fx.manager.subscribe("bad-password")).toMatchObject({ created: false, started: true });
    await waitFor("subscribed after the fix", () => fx.manager.states().some((s) => s.accountId === account.id && s.state === "subscribed"));
  });

  it("falls back to polling on a server without IDLE, says so, and still fetches new mail", async () => {
    const user = noIdle.users[0];
    const account = await fx.inbound.addAccount(fx.account("no-idle", noIdle, user));
    await fx.manager.subscribe("no-idle");
    await waitFor("polling", () => fx.manager.states().some((s) => s.accountId === account.id && s.state === "polling"));
    // Each poll passes through "connecting", and the stored state is written after the in-memory one: read until it says polling.
    let stored = await fx.inbound.getAccount("no-idle");
    await waitFor("the stored state to say polling", async () => (stored = await fx.inbound.getAccount("no-idle")).state === "polling");
    expect(stored.state).toBe("polling");
    expect(stored.stateDetail).toMatch(/no IDLE; polling "INBOX" every 0\.5 s/);
    noIdle.deliver(user.name, makeMessage(4, { subject: "polled" }));
    await waitFor("the polled message", async () => (await storedSubjects("no-idle")).length === 1);
    expect(await storedSubjects("no-idle")).toEqual(["polled"]);

    // Unsubscribing stops the polling too.
    await fx.manager.unsubscribe("no-idle");
    noIdle.deliver(user.name, makeMessage(5, { subject: "not polled" }));
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await storedSubjects("no-idle")).toEqual(["polled"]);
  });

  it("two processes on one database split the subscriptions; when one stops, the other takes its accounts over", async () => {
    const user = newUser();
    const account = await fx.inbound.addAccount(fx.account("shared", dovecot, user));
    const first = await fx.createManager();
    const second = await fx.createManager();
    await first.subscribe(account.id);
    await waitFor("the first process to watch", () => first.states().some((s) => s.accountId === account.id && s.state === "subscribed"));
    await second.resumeAll();
    await new Promise((r) => setTimeout(r, 600)); // a few refreshes
    expect(second.states().filter((s) => s.accountId === account.id)).toHaveLength(0);
    expect(openImapConnections(dovecot, user.name)).toBe(1);

    await first.close();
    await waitFor("the second process to take over", () => second.states().some((s) => s.accountId === account.id && s.state === "subscribed"));
    dovecot.deliver(user.name, makeMessage(1, { subject: "after the handover" }));
    await waitFor("the message to be stored", async () => (await storedSubjects("shared")).includes("after the handover"));
    expect(await storedSubjects("shared")).toEqual(["after the handover"]);
    await second.unsubscribe(account.id);
  });

  it("resumeAll starts every persisted subscription, and a running manager notices subscriptions made elsewhere", async () => {
    const user = newUser();
    const account = await fx.inbound.addAccount(fx.account("resumed", dovecot, user));
    // Persisted only, as `inbound subscribe` does beside a running service.
    await fx.inbound.store.subscriptions.subscribe(account.id);
    const other = await fx.createManager();
    const states: string[] = [];
    other.onStateChange((s) => s.accountId === account.id && states.push(s.state));
    await other.resumeAll();
    await waitFor("subscribed", () => other.states().some((s) => s.accountId === account.id && s.state === "subscribed"));
    dovecot.deliver(user.name, makeMessage(6, { subject: "resumed" }));
    await waitFor("the message", async () => (await storedSubjects("resumed")).length === 1);

    // Another process unsubscribes: the running manager stops within a refresh.
    await fx.inbound.store.subscriptions.unsubscribe(account.id);
    // The manager drops the watch from its list before the watch has closed its session and said
    // "stopped": wait for the state itself, then check nothing is listed for the account.
    await waitFor("stopped", () => states.at(-1) === "stopped");
    expect(other.states().some((s) => s.accountId === account.id)).toBe(false);
    await other.close();
  });

  it("an account updated while it is watched is watched with its new settings: a new folder's mail arrives", async () => {
    const user = newUser();
    const account = await fx.inbound.addAccount(fx.account("refolder", dovecot, user));
    await fx.manager.subscribe("refolder");
    // As `inbound serve` runs it: refreshing from the database.
    await fx.manager.resumeAll();
    await waitFor("subscribed", () => fx.manager.states().some((s) => s.accountId === account.id && s.state === "subscribed"));
    dovecot.deliver(user.name, makeMessage(1, { subject: "waiting elsewhere" }), "Orders");

    // As `inbound accounts update` does beside a running service: the IDLE session still watches INBOX.
    await fx.inbound.updateAccount("refolder", { folder: "Orders" });
    await waitFor("the restarted watch", () => fx.stateNames(account.id).filter((s) => s === "subscribed").length === 2);
    await waitFor("the message already in the new folder", async () => (await storedSubjects("refolder")).length === 1);
    dovecot.deliver(user.name, makeMessage(2, { subject: "new in Orders" }), "Orders");
    await waitFor("the new folder's new mail", async () => (await storedSubjects("refolder")).length === 2);
    expect((await storedSubjects("refolder")).sort()).toEqual(["new in Orders", "waiting elsewhere"]);

    // Nothing else changes a running watch: it is not started again by a refresh.
    await fx.inbound.updateAccount("refolder", { markSeen: true });
    await new Promise((r) => setTimeout(r, 1_000));
    expect(fx.stateNames(account.id).filter((s) => s === "subscribed")).toHaveLength(2);
  });
});

describe.each(DIALECTS)("one account reached from several sides on %s", (dialect) => {
  let dovecot: DovecotServer;
  const users = mailboxPool(2, "x");

  beforeAll(async () => {
    dovecot = await startDovecot({ users, ssl: false });
  });
  afterAll(async () => {
    await dovecot?.stop();
  });

  it("subscribing while the account's scheduled poll runs starts one watch, and unsubscribe and close leave none", async () => {
    let fx!: WatchFixture;
    let retrievals = 0;
    const retrieve: RetrieveFn = async (accountId, signal) => {
      if (++retrievals === 1) {
        // The scheduled poll is slow to notice it was cancelled (say, in the middle of a big message),
        // so subscribe waits on it while the periodic refresh sees the new subscription.
        await new Promise((r) => setTimeout(r, 1_500));
        if (signal.aborted) throw new InboundError("ABORTED");
      }
      return fx.inbound.fetch(accountId, { wait: true, signal });
    };
    // Little jitter: the schedule's first poll starts within 0.1 s (0 would also make every backoff wait 0).
    fx = await openWatchFixture(dialect, { retrieve, random: () => 0.01 });
    try {
      const user = users[0];
      const account = await fx.inbound.addAccount(fx.account("polled-then-subscribed", dovecot, user, { pollIntervalSeconds: 10 }));
      await fx.manager.resumeAll();
      await waitFor("the scheduled poll to start", () => retrievals === 1);
      await fx.manager.subscribe("polled-then-subscribed");
      await waitFor("subscribed", () => fx.manager.states().some((s) => s.accountId === account.id && s.state === "subscribed"));
      // Give a second watch (a refresh that started one meanwhile) a chance to show up, then count.
      await new Promise((r) => setTimeout(r, 1_000));
      await waitFor("one connection", () => openImapConnections(dovecot, user.name) === 1, 5_000);
      expect(fx.stateNames(account.id).filter((s) => s === "subscribed")).toHaveLength(1);

      await fx.manager.unsubscribe("polled-then-subscribed");
      await fx.manager.close();
      await waitFor("no connection", () => openImapConnections(dovecot, user.name) === 0, 5_000);
      dovecot.deliver(user.name, makeMessage(1, { subject: "after close" }));
      await new Promise((r) => setTimeout(r, 1_500));
      expect((await fx.inbound.listMessages({ account: "polled-then-subscribed" })).items).toEqual([]);
    } finally {
      await fx.close();
    }
  });

  it("a process that lost an account's watch to another leaves the account's state to the new holder", async () => {
    // The first manager's claim lives 300 ms and is not renewed (no resumeAll): as when its process stalls.
    const fx = await openWatchFixture(dialect, { leaseTtlMs: 300 });
    try {
      const user = users[1];
      const account = await fx.inbound.addAccount(fx.account("taken-over", dovecot, user));
      await fx.manager.subscribe("taken-over");
      await waitFor("the first process to watch", () => fx.manager.states().some((s) => s.accountId === account.id && s.state === "subscribed"));
      await new Promise((r) => setTimeout(r, 600));
      const second = await fx.createManager({ leaseTtlMs: 30_000 });
      await second.refresh();
      await waitFor("the second process to watch", () => second.states().some((s) => s.accountId === account.id && s.state === "subscribed"));
      const stateEvents = async () => (await fx.inbound.store.events.list({ accountId: account.id, limit: 1000 })).filter((e) => e.type === "account.state_changed");
      // Both processes said connecting and subscribed.
      await waitFor("the second process's state on record", async () => (await stateEvents()).filter((e) => e.data.state === "subscribed").length === 2);

      // The first process notices and steps down without a word on record.
      await fx.manager.refresh();
      expect(fx.manager.states().some((s) => s.accountId === account.id)).toBe(false);
      expect((await fx.inbound.getAccount("taken-over")).state).toBe("subscribed");
      expect((await stateEvents()).map((e) => e.data.state)).not.toContain("stopped");
      await second.unsubscribe(account.id);
    } finally {
      await fx.close();
    }
  });
});

describe("a watch through a server restart", () => {
  it.each(DIALECTS)("goes connection_lost → retrying → subscribed and stores mail sent while down once (%s)", async (dialect) => {
    const users = mailboxPool(1, "r");
    const dovecot = await startDovecot({ users, ssl: false });
    const fx = await openWatchFixture(dialect);
    try {
      const user = users[0];
      const account = await fx.inbound.addAccount(fx.account("restart", dovecot, user));
      await fx.manager.subscribe("restart");
      await waitFor("subscribed", () => fx.manager.states().some((s) => s.state === "subscribed"));
      dovecot.deliver(user.name, makeMessage(1, { subject: "before the restart" }));
      await waitFor("the first message", async () => (await fx.inbound.listMessages({ account: "restart" })).items.length === 1);

      await dovecot.stop();
      await waitFor("retrying", () => fx.stateNames(account.id).includes("retrying"));
      dovecot.deliver(user.name, makeMessage(2, { subject: "while the server was down" }));
      // Let at least one attempt fail against the stopped server.
      await new Promise((r) => setTimeout(r, 1_000));
      await dovecot.start();
      await waitFor("subscribed again", () => fx.stateNames(account.id).filter((s) => s === "subscribed").length === 2);
      await waitFor("the message sent while down", async () => (await fx.inbound.listMessages({ account: "restart" })).items.length === 2);

      const names = fx.stateNames(account.id);
      const lost = names.indexOf("connection_lost");
      expect(lost).toBeGreaterThan(names.indexOf("subscribed"));
      expect(names.slice(lost)).toContain("retrying");
      expect(names.at(-1)).toBe("subscribed");
      const retrying = fx.states.find((s) => s.state === "retrying")!;
      expect(Date.parse(retrying.nextAttemptAt!)).toBeGreaterThan(Date.parse(retrying.since) - 1);

      await new Promise((r) => setTimeout(r, 500));
      const subjects = (await fx.inbound.listMessages({ account: "restart" })).items.map((m) => m.subject).sort();
      expect(subjects).toEqual(["before the restart", "while the server was down"]);
      const received = await fx.inbound.store.database.db.selectFrom("outbox").select("id").where("account_id", "=", account.id).where("type", "=", "message.received").execute();
      expect(received).toHaveLength(2);
      const logged = (await fx.inbound.store.events.list({ accountId: account.id, limit: 1000 })).filter((e) => e.type === "account.state_changed").map((e) => e.data.state);
      expect(logged).toContain("connection_lost");
      expect(logged).toContain("retrying");
    } finally {
      await fx.close();
      await dovecot.stop();
    }
  });
});

describe("poll schedule", () => {
  it.each(DIALECTS)("fetches a POP3 account on its interval (%s)", async (dialect) => {
    const users = mailboxPool(1, "s");
    const dovecot = await startDovecot({ users, ssl: false });
    // No jitter: the first run starts at once, the next one an interval later.
    const fx = await openWatchFixture(dialect, { random: () => 0 });
    try {
      const user = users[0];
      dovecot.deliver(user.name, makeMessage(1, { subject: "first" }));
      const account = await fx.inbound.addAccount(fx.account("pop-poll", dovecot, user, { protocol: "pop3", pollIntervalSeconds: 10 }));
      await fx.manager.resumeAll();
      expect(fx.manager.schedules()).toEqual([expect.objectContaining({ accountId: account.id, intervalSeconds: 10 })]);
      await waitFor("the first run", async () => (await fx.inbound.listMessages({ account: "pop-poll" })).items.length === 1, 5_000);
      const firstRunAt = Date.now();
      dovecot.deliver(user.name, makeMessage(2, { subject: "second" }));
      await waitFor("the second run", async () => (await fx.inbound.listMessages({ account: "pop-poll" })).items.length === 2, 15_000);
      // Not fetched by anything but the schedule: it took about one interval.
      expect(Date.now() - firstRunAt).toBeGreaterThan(8_000);
      expect(fx.manager.states()).toEqual([]);
    } finally {
      await fx.close();
      await dovecot.stop();
    }
  });
});
