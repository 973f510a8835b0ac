import { sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { isInboundError } from "../../src/core/inbound-error.js";
import { describeDatabase, openDatabase, selectDialect } from "../../src/store/database.js";
import { migrateToLatest } from "../../src/store/migrations/migrate-to-latest.js";
import { createTestDatabase, DIALECTS, type TestDatabase } from "./test-databases.js";

const TABLES = ["accounts", "api_tokens", "attachments", "checkpoints", "deliveries", "delivery_dispatch", "delivery_handlers", "events", "message_sources", "messages", "outbox", "run_leases", "sessions", "store_identity", "subscriptions", "users", "watch_leases", "webhooks"];

describe.each(DIALECTS)("database on %s", (dialect) => {
  let target: TestDatabase | undefined;
  afterEach(async () => {
    await target?.cleanup();
    target = undefined;
  });

  it("applies every migration on open, creating all tables", async () => {
    target = await createTestDatabase(dialect);
    const database = await openDatabase({ databaseUrl: target.databaseUrl, dataDir: target.dataDir });
    try {
      expect(database.dialect).toBe(dialect);
      const tables = (await database.db.introspection.getTables())
        .filter((t) => t.schema === target!.pgSchema && !t.name.startsWith("kysely_"))
        .map((t) => t.name);
      expect(tables.sort()).toEqual(TABLES);
      // A second run finds nothing left to apply.
      expect(await migrateToLatest(database.db, { dialect })).toEqual([]);
    } finally {
      await database.close();
    }
  });

  it("makes every commit durable before it returns (a server delete may follow it)", async () => {
    target = await createTestDatabase(dialect);
    const database = await openDatabase({ databaseUrl: target.databaseUrl, dataDir: target.dataDir });
    try {
      if (dialect === "sqlite") {
        // 2 = FULL: the WAL is fsynced at every commit; 1 (NORMAL) would lose the last commits to a power cut.
        expect((await sql<{ synchronous: number }>`pragma synchronous`.execute(database.db)).rows[0].synchronous).toBe(2);
        expect((await sql<{ journal_mode: string }>`pragma journal_mode`.execute(database.db)).rows[0].journal_mode).toBe("wal");
      } else {
        expect((await sql<{ synchronous_commit: string }>`show synchronous_commit`.execute(database.db)).rows[0].synchronous_commit).toBe("on");
      }
    } finally {
      await database.close();
    }
  });

  it("answers a repeated query correctly after hundreds of others, and after the schema changed", async () => {
    target = await createTestDatabase(dialect);
    const database = await openDatabase({ databaseUrl: target.databaseUrl, dataDir: target.dataDir });
    try {
      const count = async () => Number((await sql<{ n: number | string }>`select count(*) as n from outbox`.execute(database.db)).rows[0].n);
      for (let i = 0; i < 300; i++) {
        // 300 distinct statements (more than the SQLite connection keeps prepared), one repeated throughout.
        await sql`select ${sql.raw(String(i))} as k`.execute(database.db);
        if (i % 50 === 0) await database.db.insertInto("outbox").values({ id: `o${i}`, account_id: null, type: "t", payload_json: "{}", created_at: "2025-01-01T00:00:00.000Z" }).execute();
        expect(await count()).toBe(Math.floor(i / 50) + 1);
      }
      const first = async () => (await sql<{ id: string }>`select * from outbox where id = ${"o0"}`.execute(database.db)).rows[0];
      expect(await first()).not.toHaveProperty("extra_test_column");
      await sql`alter table outbox add column extra_test_column text`.execute(database.db);
      expect(await count()).toBe(6);
      // The same statement text again: it sees the new column.
      expect(await first()).toHaveProperty("extra_test_column", null);
    } finally {
      await database.close();
    }
  });

  it("reopens an existing database without re-running migrations and keeps its data", async () => {
    target = await createTestDatabase(dialect);
    const first = await openDatabase({ databaseUrl: target.databaseUrl, dataDir: target.dataDir });
    await first.db.insertInto("outbox").values({ id: "x", account_id: null, type: "t", payload_json: "{}", created_at: "2025-01-01T00:00:00.000Z" }).execute();
    await first.close();
    const second = await openDatabase({ databaseUrl: target.databaseUrl, dataDir: target.dataDir });
    try {
      expect(await second.db.selectFrom("outbox").select("id").execute()).toEqual([{ id: "x" }]);
    } finally {
      await second.close();
    }
  });

  it("gives each database a random store id of its own, the same on every open, in one row", async () => {
    target = await createTestDatabase(dialect);
    const first = await openDatabase({ databaseUrl: target.databaseUrl, dataDir: target.dataDir });
    const id = first.id;
    await first.close();
    const again = await openDatabase({ databaseUrl: target.databaseUrl, dataDir: target.dataDir });
    const other = await createTestDatabase(dialect);
    const another = await openDatabase({ databaseUrl: other.databaseUrl, dataDir: other.dataDir });
    try {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(again.id).toBe(id);
      expect(another.id).not.toBe(id);
      // A second row cannot be added: the id is one value, not a choice.
      await expect(again.db.insertInto("store_identity").values({ singleton: 1, id: "x", created_at: "2025-01-01T00:00:00.000Z" }).execute()).rejects.toThrow();
      await expect(again.db.insertInto("store_identity").values({ singleton: 2, id: "x", created_at: "2025-01-01T00:00:00.000Z" }).execute()).rejects.toThrow();
      expect(await again.db.selectFrom("store_identity").select("id").execute()).toEqual([{ id }]);
      expect(again.description).toBe(dialect === "sqlite" ? `SQLite at ${target.dataDir}/inbound.db` : `PostgreSQL at ${new URL(target.databaseUrl as string).host}${new URL(target.databaseUrl as string).pathname}`);
    } finally {
      await again.close();
      await another.close();
      await other.cleanup();
    }
  });

  it("returns 64-bit integer columns and counts as numbers", async () => {
    target = await createTestDatabase(dialect);
    const database = await openDatabase({ databaseUrl: target.databaseUrl, dataDir: target.dataDir });
    try {
      const row = await sql<{ big: number; n: number }>`select cast(4294967295 as bigint) as big, count(*) as n from accounts`.execute(database.db);
      expect(row.rows[0]).toEqual({ big: 4294967295, n: 0 });
    } finally {
      await database.close();
    }
  });
});

describe("database selection", () => {
  it("refuses a URL that is neither postgres:// nor absent with DATABASE_URL_INVALID", () => {
    for (const url of ["mysql://db/inbound", "sqlite:///tmp/x.db", "not a url"]) {
      expect(() => selectDialect({ databaseUrl: url, dataDir: "/tmp" })).toThrow(expect.objectContaining({ code: "DATABASE_URL_INVALID" }));
    }
  });

  it("selects PostgreSQL for postgres:// and postgresql:// and SQLite when absent", () => {
    expect(selectDialect({ databaseUrl: "postgres://h/db", dataDir: "/tmp" }).name).toBe("postgres");
    expect(selectDialect({ databaseUrl: "postgresql://h/db", dataDir: "/tmp" }).name).toBe("postgres");
    expect(selectDialect({ dataDir: "/tmp" }).name).toBe("sqlite");
    expect(selectDialect({ databaseUrl: "", dataDir: "/tmp" }).name).toBe("sqlite");
  });

  it("opens SQLite in WAL mode with foreign keys on, creating the data directory", async () => {
    const target = await createTestDatabase("sqlite");
    const dataDir = `${target.dataDir}/nested/dir`;
    const database = await openDatabase({ dataDir });
    try {
      const mode = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(database.db);
      const fk = await sql<{ foreign_keys: number }>`pragma foreign_keys`.execute(database.db);
      const busy = await sql<{ timeout: number }>`pragma busy_timeout`.execute(database.db);
      expect(mode.rows[0].journal_mode).toBe("wal");
      expect(fk.rows[0].foreign_keys).toBe(1);
      expect(busy.rows[0].timeout).toBe(5000);
    } finally {
      await database.close();
      await target.cleanup();
    }
  });

  it("describes a database without its credentials", () => {
    expect(describeDatabase({ databaseUrl: "postgres://app:s3cret@db.example.com:5433/inbound?password=s3cret", dataDir: "/data" })).toBe("PostgreSQL at db.example.com:5433/inbound");
    expect(describeDatabase({ dataDir: "/var/lib/inbound" })).toBe("SQLite at /var/lib/inbound/inbound.db");
  });

  it("fails with STORE_FAILED when PostgreSQL cannot be reached", async () => {
    const error = await openDatabase({ databaseUrl: "postgres://postgres@127.0.0.1:1/none", dataDir: "/tmp" }).catch((e: unknown) => e);
    expect(isInboundError(error, "STORE_FAILED")).toBe(true);
  });
});

describe("database on postgres, whatever the server's settings", () => {
  let target: TestDatabase | undefined;
  afterEach(async () => {
    await target?.cleanup();
    target = undefined;
  });

  it("raises a session whose server or role turned synchronous_commit off", async () => {
    target = await createTestDatabase("postgres");
    const url = new URL(target.databaseUrl as string);
    // As if the server's or role's configuration said so: the setting comes with the connection.
    url.searchParams.set("options", `${url.searchParams.get("options") ?? ""} -c synchronous_commit=off`.trim());
    const database = await openDatabase({ databaseUrl: url.toString(), dataDir: target.dataDir });
    try {
      expect((await sql<{ synchronous_commit: string }>`show synchronous_commit`.execute(database.db)).rows[0].synchronous_commit).toBe("on");
      // The rest of the connection's options still apply.
      expect((await sql<{ search_path: string }>`show search_path`.execute(database.db)).rows[0].search_path).toContain(target.pgSchema as string);
    } finally {
      await database.close();
    }
  });
});
