import { sql, type Kysely, type Migration } from "kysely";
import { newId } from "../../core/ids.js";
import { toTimestamp } from "../timestamp.js";

/**
 * Store identity: one row holding a random id made when the database was
 * created (or first migrated to this version), never changed after. The raw
 * spool records the id of the database that owns it, so a process started
 * on the same data directory with another database (DATABASE_URL unset on a
 * PostgreSQL deployment, another database restored beside these blobs) does
 * not take that database's segments for orphans and delete them.
 */
export const storeIdentityMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable("store_identity")
      // Always 1: the primary key holds the table to one row.
      .addColumn("singleton", "integer", (c) => c.primaryKey().check(sql`singleton = 1`))
      .addColumn("id", "text", (c) => c.notNull())
      .addColumn("created_at", "text", (c) => c.notNull())
      .execute();
    await db.insertInto("store_identity").values({ singleton: 1, id: newId(), created_at: toTimestamp() }).execute();
  },
  async down(db: Kysely<any>): Promise<void> {
    await db.schema.dropTable("store_identity").execute();
  },
};
