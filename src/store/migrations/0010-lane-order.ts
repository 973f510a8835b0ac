import { sql, type Kysely, type Migration } from "kysely";

/**
 * Lanes go in dispatch order instead of event-id order. Event ids are made
 * on each machine's clock when the event is appended, and a transaction
 * with a smaller id may commit after one with a larger id (or another
 * machine's clock runs behind): ordering a lane by id then let an event
 * overtake one that was already dispatched, even one being delivered. The
 * dispatcher sees only committed events and runs one at a time, so the
 * position it hands out follows what became visible when.
 *
 * - `delivery_dispatch.last_seq`: the last position handed out.
 * - `outbox.dispatch_seq`: the position the dispatcher took the event at
 *   (`null` until then); a `fromBeginning` backfill reuses it.
 * - `deliveries.lane_seq`: the delivery's place in its lane; the lane
 *   index goes by it.
 * - `delivery_handlers.backfill_to_seq`: the last position a `fromBeginning`
 *   handler's backfill covers (the dispatcher's position when it was first
 *   registered). Such a handler now takes every event dispatched after that
 *   (`start_after` is `''`), so no event falls between backfill and fan-out.
 *
 * Existing rows are numbered in event-id order, the order their lanes
 * already had, so open deliveries keep their order.
 */
export const laneOrderMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema.alterTable("delivery_dispatch").addColumn("last_seq", "bigint", (c) => c.notNull().defaultTo(0)).execute();
    await db.schema.alterTable("outbox").addColumn("dispatch_seq", "bigint").execute();
    await db.schema.alterTable("deliveries").addColumn("lane_seq", "bigint", (c) => c.notNull().defaultTo(0)).execute();
    await db.schema.alterTable("delivery_handlers").addColumn("backfill_to_seq", "bigint").execute();

    // One numbering for dispatched events and every event a delivery points at (a backfill may
    // have queued one the dispatcher had not taken yet), in id order.
    await db.schema
      .createTable("lane_order_0010")
      .addColumn("event_id", "text", (c) => c.primaryKey())
      .addColumn("seq", "bigint", (c) => c.notNull())
      .execute();
    await sql`insert into lane_order_0010 (event_id, seq)
      select id, row_number() over (order by id) from (select id from outbox where dispatched_at is not null union select event_id as id from deliveries) as ids`.execute(db);
    const seqOf = (column: string) => sql`(select seq from lane_order_0010 where lane_order_0010.event_id = ${sql.ref(column)})`;
    await db.updateTable("outbox").set({ dispatch_seq: seqOf("outbox.id") }).where("dispatched_at", "is not", null).execute();
    await db.updateTable("deliveries").set({ lane_seq: seqOf("deliveries.event_id") }).execute();
    await db.updateTable("delivery_dispatch").set({ last_seq: sql`coalesce((select max(seq) from lane_order_0010), 0)` }).execute();
    await db.schema.dropTable("lane_order_0010").execute();

    // A backfill still owed covers every event dispatched so far; fan-out brings the rest.
    await db.updateTable("delivery_handlers").set({ start_after: "", backfill_to_seq: sql`(select last_seq from delivery_dispatch where id = 1)` }).where("backfill_pending", "=", 1).execute();

    await db.schema.dropIndex("deliveries_open_lane_idx").execute();
    // Lane heads: the first open delivery per (consumer, account) by position; partial, so done deliveries cost nothing.
    await db.schema
      .createIndex("deliveries_open_lane_seq_idx")
      .on("deliveries")
      .columns(["consumer", "account_key", "lane_seq"])
      .where(sql.ref("status"), "in", ["pending", "retrying"])
      .execute();
    // A backfill pages through the outbox by position.
    await db.schema.createIndex("outbox_dispatch_seq_idx").on("outbox").column("dispatch_seq").execute();
  },
  async down(db: Kysely<any>): Promise<void> {
    await db.schema.dropIndex("outbox_dispatch_seq_idx").execute();
    await db.schema.dropIndex("deliveries_open_lane_seq_idx").execute();
    await db.schema
      .createIndex("deliveries_open_lane_idx")
      .on("deliveries")
      .columns(["consumer", "account_key", "event_id"])
      .where(sql.ref("status"), "in", ["pending", "retrying"])
      .execute();
    await db.schema.alterTable("delivery_handlers").dropColumn("backfill_to_seq").execute();
    await db.schema.alterTable("deliveries").dropColumn("lane_seq").execute();
    await db.schema.alterTable("outbox").dropColumn("dispatch_seq").execute();
    await db.schema.alterTable("delivery_dispatch").dropColumn("last_seq").execute();
  },
};
