import type { Kysely, Migration } from "kysely";

/**
 * Raw spool: a message just taken points into its batch's spool segment
 * until the parser has copied it to its blob; both columns are null after.
 */
export const rawSpoolMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema.alterTable("messages").addColumn("spool_segment", "text").execute();
    await db.schema.alterTable("messages").addColumn("spool_offset", "bigint").execute();
    // "Does any row still point into this segment?" after each parse group commits.
    await db.schema.createIndex("messages_spool_segment").on("messages").column("spool_segment").execute();
  },
  async down(db: Kysely<any>): Promise<void> {
    await db.schema.dropIndex("messages_spool_segment").execute();
    await db.schema.alterTable("messages").dropColumn("spool_offset").execute();
    await db.schema.alterTable("messages").dropColumn("spool_segment").execute();
  },
};
