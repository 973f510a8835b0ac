import { Migrator, sql, type Kysely } from "kysely";
import { InboundError } from "../../core/inbound-error.js";
import { createMigrationProvider } from "./migration-provider.js";

/**
 * Bring the database schema up to date. Safe to run from several processes
 * at once: Kysely takes a migration lock (an advisory lock on PostgreSQL).
 * Throws STORE_FAILED naming the migration that failed.
 *
 * @example
 * ```ts
 * const applied = await migrateToLatest(db, { dialect: "sqlite" }); // ["0001-initial"] on a new database, [] after
 * ```
 */
export async function migrateToLatest(db: Kysely<any>, options: { dialect: "sqlite" | "postgres" }): Promise<string[]> {
  // Kysely looks for its migration tables in every schema unless told which one; with several
  // schemas in one PostgreSQL database (one per tenant, or per test) it would find another's.
  const migrationTableSchema = options.dialect === "postgres" ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(db)).rows[0]?.schema : undefined;
  const migrator = new Migrator({ db, provider: createMigrationProvider(), migrationTableSchema });
  let { error, results = [] } = await migrator.migrateToLatest();
  // Kysely looks for its own tables by reading the catalog of every schema, and PostgreSQL fails
  // that read when another client drops or changes some other schema's objects meanwhile (a tenant
  // removed or migrated, a test finished): nothing of ours is wrong, and nothing was changed yet,
  // so look again.
  for (let attempt = 1; attempt <= 3 && vanishedUnderCatalogRead(error, results, migrationTableSchema); attempt++) {
    ({ error, results = [] } = await migrator.migrateToLatest());
  }
  if (error !== undefined) {
    const failed = results.find((r) => r.status === "Error")?.migrationName ?? "(before any migration)";
    throw new InboundError("STORE_FAILED", {
      message: `Database migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`,
      cause: error,
    });
  }
  return results.filter((r) => r.status === "Success").map((r) => r.migrationName);
}

/**
 * PostgreSQL failed Kysely's catalog read, before any migration ran, because
 * an object it was reading went away: a schema other than `ours` (3F000), or
 * a table or column (42P01, 42703: `pg_get_serial_sequence` looks a column up
 * again by name, and another schema's migration may have just replaced it).
 */
function vanishedUnderCatalogRead(error: unknown, results: readonly unknown[], ours: string | undefined): boolean {
  const pgError = error as { code?: string; message?: string } | undefined;
  if (ours === undefined || results.length > 0 || pgError === undefined) return false;
  if (pgError.code === "42P01" || pgError.code === "42703") return true;
  if (pgError.code !== "3F000") return false;
  const named = /schema "([^"]+)" does not exist/.exec(pgError.message ?? "")?.[1];
  return named !== undefined && named !== ours;
}
