import { sql, type Kysely, type Migration } from "kysely";

/**
 * Delivery: webhook targets, registered handler names, one row per (consumer,
 * event) with its attempts and lease, and a dispatch marker on the outbox.
 * Events already in the outbox are marked dispatched: consumers start with
 * events stored from now on.
 */
export const deliveryMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema.alterTable("outbox").addColumn("dispatched_at", "text").execute();
    await db.updateTable("outbox").set({ dispatched_at: sql`created_at` }).execute();
    // The dispatcher reads `dispatched_at IS NULL ORDER BY id`; both databases index NULLs.
    await db.schema.createIndex("outbox_dispatch_idx").on("outbox").columns(["dispatched_at", "id"]).execute();

    await db.schema
      .createTable("webhooks")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("url", "text", (c) => c.notNull())
      .addColumn("events_json", "text", (c) => c.notNull())
      .addColumn("secret_enc", "text", (c) => c.notNull())
      .addColumn("description", "text")
      .addColumn("enabled", "integer", (c) => c.notNull())
      .addColumn("disabled_reason", "text")
      .addColumn("created_at", "text", (c) => c.notNull())
      .addColumn("updated_at", "text", (c) => c.notNull())
      .execute();

    await db.schema
      .createTable("delivery_handlers")
      .addColumn("name", "text", (c) => c.primaryKey())
      .addColumn("events_json", "text", (c) => c.notNull())
      .addColumn("start_after", "text", (c) => c.notNull())
      .addColumn("created_at", "text", (c) => c.notNull())
      .addColumn("last_seen_at", "text", (c) => c.notNull())
      .execute();

    await db.schema
      .createTable("deliveries")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("consumer", "text", (c) => c.notNull())
      .addColumn("event_id", "text", (c) => c.notNull())
      .addColumn("event_type", "text", (c) => c.notNull())
      .addColumn("account_key", "text", (c) => c.notNull())
      .addColumn("status", "text", (c) => c.notNull().check(sql`status in ('pending', 'retrying', 'succeeded', 'parked')`))
      .addColumn("attempts", "integer", (c) => c.notNull())
      .addColumn("next_attempt_at", "text", (c) => c.notNull())
      .addColumn("last_error", "text")
      .addColumn("last_status", "integer")
      .addColumn("lease_owner", "text")
      .addColumn("lease_expires_at", "text")
      .addColumn("created_at", "text", (c) => c.notNull())
      .addColumn("updated_at", "text", (c) => c.notNull())
      .addColumn("completed_at", "text")
      .addUniqueConstraint("deliveries_consumer_event_uq", ["consumer", "event_id"])
      .execute();
    // Lane heads: the first open delivery per (consumer, account). Partial, so done deliveries cost nothing.
    await db.schema
      .createIndex("deliveries_open_lane_idx")
      .on("deliveries")
      .columns(["consumer", "account_key", "event_id"])
      .where(sql.ref("status"), "in", ["pending", "retrying"])
      .execute();
    await db.schema.createIndex("deliveries_status_idx").on("deliveries").columns(["status", "id"]).execute();

    await db.schema
      .createTable("delivery_dispatch")
      .addColumn("id", "integer", (c) => c.primaryKey())
      .addColumn("dispatched_at", "text")
      .execute();
    await db.insertInto("delivery_dispatch").values({ id: 1, dispatched_at: null }).execute();
  },
  async down(db: Kysely<any>): Promise<void> {
    for (const table of ["delivery_dispatch", "deliveries", "delivery_handlers", "webhooks"]) await db.schema.dropTable(table).execute();
    await db.schema.dropIndex("outbox_dispatch_idx").execute();
    await db.schema.alterTable("outbox").dropColumn("dispatched_at").execute();
  },
};
