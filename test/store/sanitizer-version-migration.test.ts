import { afterEach, describe, expect, it } from "vitest";
import { sanitizerVersionMigration } from "../../src/store/migrations/0011-sanitizer-version.js";
import { createAccount, takenImap } from "./fixtures.js";
import { DIALECTS, openTestStore } from "./test-databases.js";

describe.each(DIALECTS)("migration 0011 (sanitizer version) on %s", (dialect) => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  it("marks HTML sanitized before versions were kept as version 0, so it is sanitized again; messages without any get none", async () => {
    const opened = await openTestStore(dialect);
    cleanup = opened.cleanup;
    const { store } = opened;
    const db = store.database.db;
    const accountId = await createAccount(store);
    const [withHtml, withoutHtml] = await store.transaction(async (trx) => (await store.messages.insertTaken(trx, [takenImap(accountId, 1), takenImap(accountId, 2)])).inserted);
    // The schema as it was before: no version column, and sanitized HTML from some older sanitizer.
    await sanitizerVersionMigration.down?.(db);
    await db.updateTable("messages").set({ sanitized_html: "<p>old</p>", html_body: "<p onclick=x()>old</p>" }).where("id", "=", withHtml).execute();
    await sanitizerVersionMigration.up(db);

    const rows = await db.selectFrom("messages").select(["id", "sanitizer_version"]).orderBy("id").execute();
    expect(rows).toEqual([{ id: withHtml, sanitizer_version: 0 }, { id: withoutHtml, sanitizer_version: null }]);
    expect((await store.messages.staleSanitized(1, 10)).map((m) => [m.id, m.htmlBody, m.sanitizerVersion])).toEqual([[withHtml, "<p onclick=x()>old</p>", 0]]);
    expect(await store.messages.replaceSanitized(withHtml, 0, "<p>old</p>", 1)).toBe(true);
    // Already replaced: a second writer that read version 0 does not write over it.
    expect(await store.messages.replaceSanitized(withHtml, 0, "<p>stale</p>", 1)).toBe(false);
    expect(await store.messages.staleSanitized(1, 10)).toEqual([]);
  });

  it("pages through stale messages in (version, id) order, of one account when asked", async () => {
    const opened = await openTestStore(dialect);
    cleanup = opened.cleanup;
    const { store } = opened;
    const db = store.database.db;
    const first = await createAccount(store, "first");
    const second = await createAccount(store, "second");
    const ids = await store.transaction(async (trx) => (await store.messages.insertTaken(trx, [takenImap(first, 1), takenImap(first, 2), takenImap(second, 3), takenImap(first, 4)])).inserted);
    const versions = [1, 0, 0, 2];
    for (const [i, id] of ids.entries()) await db.updateTable("messages").set({ sanitized_html: "<p>x</p>", sanitizer_version: versions[i] }).where("id", "=", id).execute();

    const seen: string[] = [];
    for (let page = await store.messages.staleSanitized(2, 2); page.length > 0; page = await store.messages.staleSanitized(2, 2, { after: page[page.length - 1] })) {
      seen.push(...page.map((m) => m.id));
    }
    expect(seen).toEqual([ids[1], ids[2], ids[0]]);
    expect((await store.messages.staleSanitized(2, 10, { accountId: first })).map((m) => m.id)).toEqual([ids[1], ids[0]]);
  });
});
