import BetterSqlite3 from "better-sqlite3";
import { SqliteDialect } from "kysely";
import type { StoreDialect } from "./store-dialect.js";

/** Options for {@link createSqliteDialect}. */
export interface SqliteDialectOptions {
  /** Path of the database file; it is created if missing. */
  file: string;
}

/**
 * The embedded default: one SQLite file in WAL mode, so readers never block
 * the writer, with foreign keys on and a 5 s busy timeout for other processes.
 *
 * @example
 * ```ts
 * const dialect = createSqliteDialect({ file: join(dataDir, "inbound.db") });
 * ```
 */
export function createSqliteDialect(options: SqliteDialectOptions): StoreDialect {
  return {
    name: "sqlite",
    concurrentWriters: false,
    createKyselyDialect() {
      return new SqliteDialect({
        database: async () => {
          const database = new BetterSqlite3(options.file);
          database.pragma("journal_mode = WAL");
          database.pragma("busy_timeout = 5000");
          database.pragma("foreign_keys = ON");
          // NORMAL is durable across application crashes in WAL mode; only an OS crash can lose the last commits.
          database.pragma("synchronous = NORMAL");
          return database;
        },
      });
    },
    isUniqueViolation(error) {
      const code = (error as { code?: unknown } | null)?.code;
      return code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY";
    },
  };
}
