import type { Kysely } from "kysely";
import type { Schema } from "./schema.js";

/**
 * Anything a repository method can run on: the database itself or an open
 * transaction (Kysely's `Transaction` is a `Kysely`). Passing a transaction
 * makes the call part of it.
 *
 * On SQLite all queries share one connection, so while a transaction is open
 * pass that transaction, never the outer `db`, or the call waits forever.
 */
export type Executor = Kysely<Schema>;

/**
 * Run `fn` in `executor` if it already is a transaction, else in a new one,
 * so a multi-statement method is atomic whether or not its caller opened one.
 *
 * @example
 * ```ts
 * await atomically(trxOrDb, async (trx) => { await trx.insertInto("events").values(row).execute(); });
 * ```
 */
export function atomically<T>(executor: Executor, fn: (trx: Executor) => Promise<T>): Promise<T> {
  if (executor.isTransaction) return fn(executor);
  return executor.transaction().execute(fn);
}
