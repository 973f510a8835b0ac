import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isInboundError } from "../../src/core/inbound-error.js";
import type { Store } from "../../src/store/store.js";
import { imapSettings } from "./fixtures.js";
import { DIALECTS, openTestStore } from "./test-databases.js";

describe.each(DIALECTS)("account repository on %s", (dialect) => {
  let store: Store;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    ({ store, cleanup } = await openTestStore(dialect));
  });
  afterEach(async () => {
    await cleanup();
  });

  it("creates an account and reads its settings back without the password", async () => {
    const created = await store.accounts.create(imapSettings("support"), "sealed-value");
    expect(created).toMatchObject({ name: "support", protocol: "imaps", host: "mail.example.com", port: 993, security: "tls", state: "idle", lastError: null });
    expect(created).not.toHaveProperty("password");
    expect(JSON.stringify(created)).not.toContain("sealed-value");
    expect(await store.accounts.get(created.id)).toEqual(created);
    expect(await store.accounts.get("support")).toEqual(created);
    const row = await store.database.db.selectFrom("accounts").select("settings_json").executeTakeFirstOrThrow();
    expect(row.settings_json).not.toContain("plain-password-123");
    expect(await store.accounts.getPasswordCiphertext(created.id)).toBe("sealed-value");
  });

  it("refuses a second account with the same name with ACCOUNT_EXISTS", async () => {
    await store.accounts.create(imapSettings("support"), "x");
    const error = await store.accounts.create(imapSettings("support"), "y").catch((e: unknown) => e);
    expect(isInboundError(error, "ACCOUNT_EXISTS")).toBe(true);
    expect(await store.accounts.list()).toHaveLength(1);
  });

  it("refuses renaming an account to a taken name with ACCOUNT_EXISTS", async () => {
    await store.accounts.create(imapSettings("a"), "x");
    const b = await store.accounts.create(imapSettings("b"), "x");
    const error = await store.accounts.update(b.id, imapSettings("a")).catch((e: unknown) => e);
    expect(isInboundError(error, "ACCOUNT_EXISTS")).toBe(true);
  });

  it("updates settings, and the password only when given", async () => {
    const a = await store.accounts.create(imapSettings("a"), "old");
    const updated = await store.accounts.update(a.id, { ...imapSettings("renamed"), limit: 7 });
    expect(updated).toMatchObject({ id: a.id, name: "renamed", limit: 7 });
    expect(await store.accounts.getPasswordCiphertext(a.id)).toBe("old");
    await store.accounts.update(a.id, imapSettings("renamed"), "new");
    expect(await store.accounts.getPasswordCiphertext(a.id)).toBe("new");
  });

  it("records state and runs", async () => {
    const a = await store.accounts.create(imapSettings("a"), "x");
    await store.accounts.setState(a.id, "error", "auth failed");
    await store.accounts.recordRun(a.id, { at: new Date("2025-02-03T04:05:06Z"), error: "IMAP_AUTH_FAILED" });
    expect(await store.accounts.get(a.id)).toMatchObject({ state: "error", stateDetail: "auth failed", lastRunAt: "2025-02-03T04:05:06.000Z", lastError: "IMAP_AUTH_FAILED" });
  });

  it("throws ACCOUNT_NOT_FOUND for unknown names and ids, and lists by name", async () => {
    await store.accounts.create(imapSettings("zed"), "x");
    await store.accounts.create(imapSettings("alpha"), "x");
    expect((await store.accounts.list()).map((a) => a.name)).toEqual(["alpha", "zed"]);
    for (const call of [() => store.accounts.get("missing"), () => store.accounts.remove("missing"), () => store.accounts.setState("missing", "idle")]) {
      expect(isInboundError(await call().catch((e: unknown) => e), "ACCOUNT_NOT_FOUND")).toBe(true);
    }
  });
});
