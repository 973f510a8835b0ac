import { sql, type Expression, type Kysely, type Migration, type SqlBool } from "kysely";

/*
 * Only types both dialects understand: text, integer, bigint. Timestamps are
 * ISO-8601 UTC text and JSON is text (see schema.ts), so no dialect-specific
 * column types or defaults are needed.
 */

/** The first schema: accounts, messages and their identity ledger, checkpoints, attachments, events, outbox. */
export const initialMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable("accounts")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("name", "text", (c) => c.notNull().unique())
      .addColumn("protocol", "text", (c) => c.notNull())
      .addColumn("settings_json", "text", (c) => c.notNull())
      .addColumn("password_enc", "text", (c) => c.notNull())
      .addColumn("state", "text", (c) => c.notNull().defaultTo("idle"))
      .addColumn("state_detail", "text")
      .addColumn("last_run_at", "text")
      .addColumn("last_error", "text")
      .addColumn("created_at", "text", (c) => c.notNull())
      .addColumn("updated_at", "text", (c) => c.notNull())
      .execute();

    await db.schema
      .createTable("messages")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("account_id", "text", (c) => c.notNull().references("accounts.id").onDelete("cascade"))
      .addColumn("folder", "text")
      .addColumn("uid_validity", "text")
      .addColumn("uid", "bigint")
      .addColumn("uidl", "text")
      .addColumn("raw_sha256", "text", (c) => c.notNull())
      .addColumn("size", "bigint", (c) => c.notNull())
      .addColumn("internal_date", "text")
      .addColumn("flags_json", "text", (c) => c.notNull())
      .addColumn("message_id_header", "text")
      .addColumn("sent_date", "text")
      .addColumn("subject", "text")
      .addColumn("from_json", "text")
      .addColumn("to_json", "text")
      .addColumn("cc_json", "text")
      .addColumn("bcc_json", "text")
      .addColumn("reply_to_json", "text")
      .addColumn("headers_json", "text")
      .addColumn("text_body", "text")
      .addColumn("html_body", "text")
      .addColumn("sanitized_html", "text")
      .addColumn("status", "text", (c) => c.notNull().check(sqlIn("status", ["pending", "parsed", "failed"])))
      .addColumn("parse_error", "text")
      .addColumn("stored_at", "text", (c) => c.notNull())
      .addColumn("processed_at", "text")
      .execute();
    // Newest-first listing per account pages on id (UUIDv7, so creation order).
    await db.schema.createIndex("messages_account_id_idx").on("messages").columns(["account_id", "id"]).execute();
    await db.schema.createIndex("messages_account_stored_idx").on("messages").columns(["account_id", "stored_at"]).execute();
    await db.schema.createIndex("messages_account_message_id_idx").on("messages").columns(["account_id", "message_id_header"]).execute();
    await db.schema.createIndex("messages_status_idx").on("messages").columns(["status", "id"]).execute();

    await db.schema
      .createTable("message_sources")
      .addColumn("account_id", "text", (c) => c.notNull().references("accounts.id").onDelete("cascade"))
      .addColumn("source_key", "text", (c) => c.notNull())
      .addColumn("message_id", "text", (c) => c.notNull().references("messages.id").onDelete("cascade"))
      .addColumn("created_at", "text", (c) => c.notNull())
      .addPrimaryKeyConstraint("message_sources_pk", ["account_id", "source_key"])
      .execute();
    await db.schema.createIndex("message_sources_message_idx").on("message_sources").column("message_id").execute();

    await db.schema
      .createTable("checkpoints")
      .addColumn("account_id", "text", (c) => c.notNull().references("accounts.id").onDelete("cascade"))
      .addColumn("folder", "text", (c) => c.notNull())
      .addColumn("uid_validity", "text", (c) => c.notNull())
      .addColumn("last_uid", "bigint", (c) => c.notNull())
      .addColumn("updated_at", "text", (c) => c.notNull())
      .addPrimaryKeyConstraint("checkpoints_pk", ["account_id", "folder"])
      .execute();

    await db.schema
      .createTable("attachments")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("message_id", "text", (c) => c.notNull().references("messages.id").onDelete("cascade"))
      .addColumn("position", "integer", (c) => c.notNull())
      .addColumn("filename", "text")
      .addColumn("content_type", "text", (c) => c.notNull())
      .addColumn("size", "bigint", (c) => c.notNull())
      .addColumn("content_id", "text")
      .addColumn("disposition", "text", (c) => c.notNull().check(sqlIn("disposition", ["inline", "attachment"])))
      .addColumn("sha256", "text", (c) => c.notNull())
      .addColumn("created_at", "text", (c) => c.notNull())
      .execute();
    await db.schema.createIndex("attachments_message_idx").on("attachments").columns(["message_id", "position"]).execute();

    await db.schema
      .createTable("events")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("account_id", "text", (c) => c.references("accounts.id").onDelete("cascade"))
      .addColumn("type", "text", (c) => c.notNull())
      .addColumn("level", "text", (c) => c.notNull().check(sqlIn("level", ["info", "warn", "error"])))
      .addColumn("message", "text", (c) => c.notNull())
      .addColumn("data_json", "text", (c) => c.notNull())
      .addColumn("created_at", "text", (c) => c.notNull())
      .execute();
    await db.schema.createIndex("events_account_idx").on("events").columns(["account_id", "id"]).execute();

    // No foreign key on purpose: an event about an account must still be delivered after the account is removed.
    await db.schema
      .createTable("outbox")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("account_id", "text")
      .addColumn("type", "text", (c) => c.notNull())
      .addColumn("payload_json", "text", (c) => c.notNull())
      .addColumn("created_at", "text", (c) => c.notNull())
      .execute();
  },

  async down(db: Kysely<any>): Promise<void> {
    for (const table of ["outbox", "events", "attachments", "checkpoints", "message_sources", "messages", "accounts"]) {
      await db.schema.dropTable(table).execute();
    }
  },
};


function sqlIn(column: string, values: readonly string[]): Expression<SqlBool> {
  return sql<SqlBool>`${sql.ref(column)} in (${sql.join(values.map((v) => sql.lit(v)))})`;
}
