import BetterSqlite3 from "better-sqlite3";
import { CompiledQuery, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver } from "kysely";
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
      return new ImmediateSqliteDialect({
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

/*
 * Kysely begins SQLite transactions with a plain (deferred) BEGIN. A deferred
 * transaction that reads and then writes fails at once with SQLITE_BUSY when
 * another process (say `inbound fetch` beside `inbound serve`) committed in
 * between; busy_timeout does not help there. BEGIN IMMEDIATE takes the write
 * lock up front, so a second writer waits its turn instead.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("begin immediate"));
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: ConstructorParameters<typeof SqliteDialect>[0];
  constructor(config: ConstructorParameters<typeof SqliteDialect>[0]) {
    super(config);
    this.#config = config;
  }
  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config);
  }
}
