import type { Kysely, Migration } from "kysely";

/**
 * A handler registered with `fromBeginning` is owed every event stored
 * before it; `backfill_pending` stays 1 until that backfill finished, so a
 * process that dies during it backfills again at the next registration
 * rather than leaving the older events out for good.
 */
export const handlerBackfillMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema.alterTable("delivery_handlers").addColumn("backfill_pending", "integer", (c) => c.notNull().defaultTo(0)).execute();
  },
  async down(db: Kysely<any>): Promise<void> {
    await db.schema.alterTable("delivery_handlers").dropColumn("backfill_pending").execute();
  },
};
