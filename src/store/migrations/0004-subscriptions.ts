import type { Kysely, Migration } from "kysely";

/**
 * Subscriptions: the accounts whose mailbox is watched (IMAP IDLE, or polling
 * where the server has no IDLE). `inbound serve` resumes every row on start.
 */
export const subscriptionsMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable("subscriptions")
      .addColumn("account_id", "text", (c) => c.primaryKey().references("accounts.id").onDelete("cascade"))
      .addColumn("created_at", "text", (c) => c.notNull())
      // Bumped by every subscribe, so a running service can tell "restart the failed watch" from "nothing new".
      .addColumn("requested_at", "text", (c) => c.notNull())
      .execute();
  },
  async down(db: Kysely<any>): Promise<void> {
    await db.schema.dropTable("subscriptions").execute();
  },
};
