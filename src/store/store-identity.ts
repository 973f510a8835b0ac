import { InboundError } from "../core/inbound-error.js";
import type { Executor } from "./executor.js";

/**
 * The database's store id: a random id made once by migration 0008 and never
 * changed. The raw spool's owner marker names it (see spool-owner.ts), so a
 * process can tell the spool of its own database from another database's.
 * Throws STORE_FAILED when the row is missing.
 *
 * @example
 * ```ts
 * const id = await readStoreId(db); // "0193a1b2-…", the same on every open of this database
 * ```
 */
export async function readStoreId(db: Executor): Promise<string> {
  const row = await db.selectFrom("store_identity").select("id").where("singleton", "=", 1).executeTakeFirst();
  if (row === undefined) {
    throw new InboundError("STORE_FAILED", {
      message: "The database has no store id (table store_identity is empty); it was made by migration 0008 and must not be deleted. Restore the database from a backup.",
    });
  }
  return row.id;
}
