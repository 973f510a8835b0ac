import type { Executor } from "./executor.js";

/**
 * Take the fan-out lock in `trx`: the one `delivery_dispatch` row, which
 * every dispatch locks first. A change to the set of consumers (removing a
 * webhook, forgetting a handler) takes it too, so it never lands between a
 * dispatch reading the consumers and inserting their deliveries: that left
 * open deliveries for a consumer that no longer exists, and handed a name
 * registered again events from before it was forgotten. The update changes
 * nothing; it only locks the row (PostgreSQL; SQLite writers queue anyway).
 *
 * @example
 * ```ts
 * await atomically(db, async (trx) => {
 *   await lockDispatch(trx);
 *   await trx.deleteFrom("webhooks").where("id", "=", id).execute();
 * });
 * ```
 */
export async function lockDispatch(trx: Executor): Promise<void> {
  await trx
    .updateTable("delivery_dispatch")
    .set((eb) => ({ dispatched_at: eb.ref("dispatched_at") }))
    .where("id", "=", 1)
    .execute();
}
