import type { Dialect, Kysely } from "kysely";

/**
 * What differs between the databases Inbound runs on, kept in one small
 * object so repositories never branch on the database name. Repositories
 * only use SQL both dialects accept (`ON CONFLICT`, `RETURNING`, `CASE`).
 *
 * @example
 * ```ts
 * const dialect = createSqliteDialect({ file: "/var/lib/inbound/inbound.db" });
 * const db = new Kysely<Schema>({ dialect: dialect.createKyselyDialect() });
 * ```
 */
export interface StoreDialect {
  readonly name: "sqlite" | "postgres";
  /** True when several connections can write at once (PostgreSQL); SQLite writers queue on one lock. */
  readonly concurrentWriters: boolean;
  /** The Kysely dialect that talks to the database. */
  createKyselyDialect(): Dialect;
  /** True when `error` is this database's unique-constraint violation. */
  isUniqueViolation(error: unknown): boolean;
  /**
   * The database server's clock in ms since the epoch (see database-clock.ts). Absent when
   * the database lives in this process (SQLite): its clock is this machine's.
   */
  readServerClockMs?(db: Kysely<any>): Promise<number>;
}
