import type { Executor } from "./executor.js";
import { toTimestamp } from "./timestamp.js";

/** A persisted subscription: the account's mailbox is watched while the row exists. */
export interface SubscriptionRecord {
  accountId: string;
  createdAt: string;
  /** When `subscribe` was last called for it; a newer value restarts a watch that had failed. */
  requestedAt: string;
}

/** What {@link SubscriptionRepository.subscribe} did. */
export interface SubscribeOutcome {
  subscription: SubscriptionRecord;
  /** False when the account already was subscribed (its `requestedAt` moved on). */
  created: boolean;
}

/**
 * Which accounts are watched. Subscribing twice keeps one row; unsubscribing
 * an account that is not subscribed changes nothing. Rows go with their
 * account (cascade).
 */
export interface SubscriptionRepository {
  subscribe(accountId: string, executor?: Executor): Promise<SubscribeOutcome>;
  /** Returns whether a subscription existed. */
  unsubscribe(accountId: string, executor?: Executor): Promise<{ removed: boolean }>;
  /** The subscription of this account, if any. */
  find(accountId: string, executor?: Executor): Promise<SubscriptionRecord | undefined>;
  /** Every subscription, oldest first. */
  list(executor?: Executor): Promise<SubscriptionRecord[]>;
}

/**
 * The subscription repository over `db`.
 *
 * @example
 * ```ts
 * const subscriptions = createSubscriptionRepository(db);
 * await subscriptions.subscribe(account.id); // { created: true, ... }
 * await subscriptions.subscribe(account.id); // { created: false, ... } — still one row
 * ```
 */
export function createSubscriptionRepository(db: Executor): SubscriptionRepository {
  const toRecord = (row: { account_id: string; created_at: string; requested_at: string }): SubscriptionRecord => ({
    accountId: row.account_id,
    createdAt: row.created_at,
    requestedAt: row.requested_at,
  });

  return {
    async subscribe(accountId, ex = db) {
      const now = toTimestamp();
      // One upsert decides, race-free on both dialects: a second subscribe only moves requested_at.
      await ex
        .insertInto("subscriptions")
        .values({ account_id: accountId, created_at: now, requested_at: now })
        .onConflict((oc) => oc.column("account_id").doUpdateSet({ requested_at: now }))
        .execute();
      const row = await ex.selectFrom("subscriptions").selectAll().where("account_id", "=", accountId).executeTakeFirstOrThrow();
      return { subscription: toRecord(row), created: row.created_at === now };
    },

    async unsubscribe(accountId, ex = db) {
      const result = await ex.deleteFrom("subscriptions").where("account_id", "=", accountId).executeTakeFirst();
      return { removed: result.numDeletedRows > 0n };
    },

    async find(accountId, ex = db) {
      const row = await ex.selectFrom("subscriptions").selectAll().where("account_id", "=", accountId).executeTakeFirst();
      return row === undefined ? undefined : toRecord(row);
    },

    async list(ex = db) {
      const rows = await ex.selectFrom("subscriptions").selectAll().orderBy("created_at").orderBy("account_id").execute();
      return rows.map(toRecord);
    },
  };
}
