import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isInboundError } from "../../src/core/inbound-error.js";
import { rotateKeys } from "../../src/store/rotate-keys.js";
import { createSecretBox, keyIdOf } from "../../src/auth/secret-box.js";
import type { Store } from "../../src/store/store.js";
import { imapSettings } from "./fixtures.js";
import { DIALECTS, openTestStore, type TestDatabase } from "./test-databases.js";

describe.each(DIALECTS)("stored secrets on %s", (dialect) => {
  let store: Store;
  let target: TestDatabase;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    ({ store, target, cleanup } = await openTestStore(dialect));
  });
  afterEach(async () => {
    await cleanup();
  });

  const oldKey = randomBytes(32);
  const newKey = randomBytes(32);
  const oldBox = createSecretBox({ keys: [oldKey], activeKeyId: keyIdOf(oldKey) });
  const ring = createSecretBox({ keys: [oldKey, newKey], activeKeyId: keyIdOf(newKey) });

  it("keeps the password out of the database in plain text", async () => {
    const settings = imapSettings("support");
    await store.accounts.create(settings, oldBox.seal(settings.password));
    const rows = await store.database.db.selectFrom("accounts").selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(settings.password);
    if (dialect === "sqlite") {
      await sql`pragma wal_checkpoint(TRUNCATE)`.execute(store.database.db);
      const file = await readFile(join(target.dataDir, "inbound.db"));
      const wal = await readFile(join(target.dataDir, "inbound.db-wal")).catch(() => Buffer.alloc(0));
      expect(Buffer.concat([file, wal]).includes(Buffer.from(settings.password))).toBe(false);
      expect(Buffer.concat([file, wal]).includes(Buffer.from("mail.example.com"))).toBe(true); // proves the scan sees the data
    }
  });

  it("re-seals every account's password under the active key; the old key is then unneeded", async () => {
    const a = await store.accounts.create(imapSettings("a"), oldBox.seal("pw-a"));
    const b = await store.accounts.create(imapSettings("b"), ring.seal("pw-b"));
    expect(await rotateKeys({ db: store.database.db, box: ring })).toEqual({ resealed: 1, unchanged: 1 });
    const onlyNew = createSecretBox({ keys: [newKey], activeKeyId: keyIdOf(newKey) });
    expect(onlyNew.open(await store.accounts.getPasswordCiphertext(a.id))).toBe("pw-a");
    expect(onlyNew.open(await store.accounts.getPasswordCiphertext(b.id))).toBe("pw-b");
  });

  it("changes nothing when one secret cannot be opened", async () => {
    const stranger = randomBytes(32);
    const a = await store.accounts.create(imapSettings("a"), oldBox.seal("pw-a"));
    await store.accounts.create(imapSettings("b"), createSecretBox({ keys: [stranger], activeKeyId: keyIdOf(stranger) }).seal("pw-b"));
    const before = await store.accounts.getPasswordCiphertext(a.id);
    const error = await rotateKeys({ db: store.database.db, box: ring }).catch((e: unknown) => e);
    expect(isInboundError(error, "SECRET_KEY_UNKNOWN")).toBe(true);
    expect(await store.accounts.getPasswordCiphertext(a.id)).toBe(before);
  });
});
