import type { Kysely, Migration } from "kysely";

/** Watch leases: which process watches or polls an account, so N processes on one database split the accounts. */
export const watchLeasesMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable("watch_leases")
      .addColumn("account_id", "text", (c) => c.primaryKey().references("accounts.id").onDelete("cascade"))
      .addColumn("owner", "text", (c) => c.notNull())
      .addColumn("expires_at", "text", (c) => c.notNull())
      .execute();
    await db.schema.createIndex("watch_leases_owner").on("watch_leases").column("owner").execute();
  },
  async down(db: Kysely<any>): Promise<void> {
    await db.schema.dropTable("watch_leases").execute();
  },
};
