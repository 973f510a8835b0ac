import type { Pool } from "pg";
import { CompiledQuery, PostgresDialect, sql } from "kysely";
import type { StoreDialect } from "./store-dialect.js";

/** Options for {@link createPostgresDialect}. */
export interface PostgresDialectOptions {
  /** A `postgres://` or `postgresql://` connection URL; query parameters such as `options=-c search_path=x` pass through. */
  url: string;
  /** Most connections the pool opens. Default 10. */
  maxConnections?: number;
}

const INT8_OID = 20;

/*
 * int8 (bigint, count(*)) comes back from pg as a string by default. Our int8
 * columns hold sizes and IMAP UIDs, far below 2^53, so numbers are exact.
 * The parser is set on this pool only, not on pg's global type registry.
 *
 * pg is loaded when the first connection is wanted: a process on SQLite
 * (every CLI command by default) never holds it in its heap.
 */
async function createPool(options: PostgresDialectOptions): Promise<Pool> {
  const { default: pg } = await import("pg");
  const types = {
    getTypeParser(oid: number, format?: "text" | "binary") {
      if (oid === INT8_OID && format !== "binary") return (value: string) => Number(value);
      return pg.types.getTypeParser(oid, format as "text");
    },
  };
  return new pg.Pool({ connectionString: options.url, max: options.maxConnections ?? 10, types });
}

/*
 * A commit is followed by things that cannot be taken back (the message is
 * deleted on the server, or handed to a webhook), so it must be on disk when
 * it returns. PostgreSQL's default promises that; a server or role set to
 * `synchronous_commit = off` does not, and a crash would then lose mail, so
 * such a session is raised to `on`. Stronger settings (remote_write,
 * remote_apply) and `local` already flush locally and are left alone.
 */
const DURABLE_COMMITS = CompiledQuery.raw("select set_config('synchronous_commit', 'on', false) where current_setting('synchronous_commit') = 'off'");

const SERVER_CLOCK = sql<{ ms: number | string }>`select extract(epoch from clock_timestamp()) * 1000 as ms`;

async function requireDurableCommits(connection: { executeQuery(query: CompiledQuery): Promise<unknown> }): Promise<void> {
  await connection.executeQuery(DURABLE_COMMITS);
}

/**
 * The scale-out store: a pg connection pool against one PostgreSQL database.
 *
 * @example
 * ```ts
 * const dialect = createPostgresDialect({ url: "postgres://inbound@db:5432/inbound" });
 * ```
 */
export function createPostgresDialect(options: PostgresDialectOptions): StoreDialect {
  return {
    name: "postgres",
    concurrentWriters: true,
    createKyselyDialect() {
      return new PostgresDialect({ pool: () => createPool(options), onCreateConnection: requireDurableCommits });
    },
    isUniqueViolation(error) {
      return (error as { code?: unknown } | null)?.code === "23505";
    },
    async readServerClockMs(db) {
      // clock_timestamp(), not now(): now() is when the surrounding transaction began.
      const { rows } = await SERVER_CLOCK.execute(db);
      return Number(rows[0].ms);
    },
  };
}
