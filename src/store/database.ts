import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { Kysely } from "kysely";
import { InboundError } from "../core/inbound-error.js";
import { createDatabaseClock, type DatabaseClock } from "./database-clock.js";
import { migrateToLatest } from "./migrations/migrate-to-latest.js";
import { createPostgresDialect } from "./postgres-dialect.js";
import type { Schema } from "./schema.js";
import { createSqliteDialect } from "./sqlite-dialect.js";
import type { StoreDialect } from "./store-dialect.js";
import { readStoreId } from "./store-identity.js";

/** Options for {@link openDatabase}. */
export interface OpenDatabaseOptions {
  /** `postgres://…` or `postgresql://…` selects PostgreSQL; absent (or empty) means SQLite in `dataDir`. */
  databaseUrl?: string;
  /** Directory for the SQLite file `inbound.db` (created if missing). */
  dataDir: string;
}

/** An open, migrated database. Close it when done. */
export interface Database {
  db: Kysely<Schema>;
  dialect: StoreDialect["name"];
  /** The store id: random, made once when the database was created, the same on every open (see store-identity.ts). */
  id: string;
  /** Where the database is, without credentials, for messages to an operator: "PostgreSQL at db.example.com:5432/inbound". */
  description: string;
  /** The dialect's capabilities, for the rare caller that needs them. */
  capabilities: StoreDialect;
  /** The database server's time, which leases and retry schedules are kept in. */
  clock: DatabaseClock;
  close(): Promise<void>;
}

/**
 * Pick the dialect for a database URL. Throws DATABASE_URL_INVALID for
 * anything that is neither absent nor a PostgreSQL URL.
 *
 * @example
 * ```ts
 * selectDialect({ dataDir: "/data" }).name; // "sqlite"
 * selectDialect({ databaseUrl: "postgres://db/inbound", dataDir: "/data" }).name; // "postgres"
 * ```
 */
export function selectDialect(options: OpenDatabaseOptions): StoreDialect {
  const url = options.databaseUrl?.trim();
  if (url === undefined || url === "") return createSqliteDialect({ file: join(options.dataDir, "inbound.db") });
  if (/^postgres(ql)?:\/\//i.test(url)) {
    try {
      new URL(url);
    } catch (cause) {
      throw new InboundError("DATABASE_URL_INVALID", { message: "DATABASE_URL is not a valid URL.", cause });
    }
    return createPostgresDialect({ url });
  }
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1];
  throw new InboundError("DATABASE_URL_INVALID", {
    message: `DATABASE_URL must start with postgres:// or postgresql://${scheme ? ` (got ${scheme}:)` : ""}; leave it unset to use SQLite in the data directory.`,
  });
}

/**
 * Where the database of `options` is, in words an operator recognises and
 * without credentials (a URL's user, password and query are left out).
 *
 * @example
 * ```ts
 * describeDatabase({ dataDir: "/data" }); // "SQLite at /data/inbound.db"
 * describeDatabase({ databaseUrl: "postgres://app:secret@db:5432/inbound", dataDir: "/data" }); // "PostgreSQL at db:5432/inbound"
 * ```
 */
export function describeDatabase(options: OpenDatabaseOptions): string {
  const url = options.databaseUrl?.trim();
  if (url === undefined || url === "") return `SQLite at ${resolve(options.dataDir, "inbound.db")}`;
  try {
    const parsed = new URL(url);
    return `PostgreSQL at ${parsed.host}${parsed.pathname}`;
  } catch {
    return "PostgreSQL (DATABASE_URL)";
  }
}

/**
 * Open the database, creating it and applying migrations as needed.
 *
 * @example
 * ```ts
 * const database = await openDatabase({ databaseUrl: process.env.DATABASE_URL, dataDir: "/var/lib/inbound" });
 * try { await database.db.selectFrom("accounts").selectAll().execute(); }
 * finally { await database.close(); }
 * ```
 */
export async function openDatabase(options: OpenDatabaseOptions): Promise<Database> {
  const dialect = selectDialect(options);
  await mkdir(options.dataDir, { recursive: true });
  const db = new Kysely<Schema>({ dialect: dialect.createKyselyDialect() });
  let id: string;
  const readServerMs = dialect.readServerClockMs?.bind(dialect, db);
  const clock = createDatabaseClock({ readServerMs });
  try {
    await migrateToLatest(db, { dialect: dialect.name });
    id = await readStoreId(db);
    await clock.sync();
  } catch (error) {
    clock.close();
    await db.destroy();
    if (error instanceof InboundError) throw error;
    throw new InboundError("STORE_FAILED", {
      message: `Could not open the ${dialect.name === "sqlite" ? "SQLite" : "PostgreSQL"} database: ${error instanceof Error ? error.message : String(error)}`,
      cause: error,
      retryable: dialect.name === "postgres",
    });
  }
  return {
    db,
    dialect: dialect.name,
    id,
    description: describeDatabase(options),
    capabilities: dialect,
    clock,
    close: async () => {
      clock.close();
      await db.destroy();
    },
  };
}
