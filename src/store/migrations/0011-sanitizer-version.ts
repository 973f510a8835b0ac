import { sql, type Kysely, type Migration } from "kysely";

/**
 * Which sanitizer version produced a message's `sanitized_html` (null when
 * it has none), so messages sanitized before a rule was tightened can be
 * found and sanitized again. What is stored already is of unknown,
 * older versions: 0.
 */
export const sanitizerVersionMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema.alterTable("messages").addColumn("sanitizer_version", "integer").execute();
    await db.updateTable("messages").set({ sanitizer_version: 0 }).where("sanitized_html", "is not", null).execute();
    // Only messages with sanitized HTML carry a version, so the index holds just those.
    await db.schema.createIndex("messages_sanitizer_version").on("messages").columns(["sanitizer_version", "id"]).where(sql.ref("sanitizer_version"), "is not", null).execute();
  },
  async down(db: Kysely<any>): Promise<void> {
    await db.schema.dropIndex("messages_sanitizer_version").execute();
    await db.schema.alterTable("messages").dropColumn("sanitizer_version").execute();
  },
};
