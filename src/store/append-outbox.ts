import { newId } from "../core/ids.js";
import type { Executor } from "./executor.js";
import { toTimestamp } from "./timestamp.js";

/** An event for handlers and webhooks. */
export interface OutboxInput {
  accountId: string | null;
  /** e.g. `message.stored`. */
  type: string;
  payload: Record<string, unknown>;
}

/**
 * Queue an event for delivery in the same transaction as the change it
 * reports, so a committed message always has its event and a rolled-back one
 * never does. Returns the stable event id deliveries carry.
 *
 * @example
 * ```ts
 * await store.transaction(async (trx) => {
 *   const { inserted } = await store.messages.insertTaken(trx, taken);
 *   for (const id of inserted) await appendOutbox(trx, { accountId, type: "message.stored", payload: { messageId: id } });
 * });
 * ```
 */
export async function appendOutbox(trx: Executor, entry: OutboxInput): Promise<string> {
  const id = newId();
  await trx
    .insertInto("outbox")
    .values({ id, account_id: entry.accountId, type: entry.type, payload_json: JSON.stringify(entry.payload), created_at: toTimestamp() })
    .execute();
  return id;
}

/**
 * {@link appendOutbox} for several events in one multi-row insert; returns
 * their ids in order.
 *
 * @example
 * ```ts
 * await appendOutboxMany(trx, ids.map((messageId) => ({ accountId, type: "message.received", payload: { messageId } })));
 * ```
 */
export async function appendOutboxMany(trx: Executor, entries: readonly OutboxInput[]): Promise<string[]> {
  const now = toTimestamp();
  const rows = entries.map((entry) => ({ id: newId(), account_id: entry.accountId, type: entry.type, payload_json: JSON.stringify(entry.payload), created_at: now }));
  for (let from = 0; from < rows.length; from += 500) await trx.insertInto("outbox").values(rows.slice(from, from + 500)).execute();
  return rows.map((r) => r.id);
}
