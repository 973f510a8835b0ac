import type { Migration, MigrationProvider } from "kysely";
import { initialMigration } from "./0001-initial.js";
import { runLeasesMigration } from "./0002-run-leases.js";
import { deliveryMigration } from "./0003-delivery.js";
import { subscriptionsMigration } from "./0004-subscriptions.js";
import { usersMigration } from "./0005-users.js";
import { watchLeasesMigration } from "./0006-watch-leases.js";
import { rawSpoolMigration } from "./0007-raw-spool.js";
import { storeIdentityMigration } from "./0008-store-identity.js";
import { handlerBackfillMigration } from "./0009-handler-backfill.js";
import { laneOrderMigration } from "./0010-lane-order.js";
import { sanitizerVersionMigration } from "./0011-sanitizer-version.js";

/*
 * Migrations are listed here rather than read from a folder so they ship
 * inside the compiled package and run the same from tests, `dist/` and a
 * bundler. Names sort in application order; never rename or edit a released one.
 */
const MIGRATIONS: Record<string, Migration> = {
  "0001-initial": initialMigration,
  "0002-run-leases": runLeasesMigration,
  "0003-delivery": deliveryMigration,
  "0004-subscriptions": subscriptionsMigration,
  "0005-users": usersMigration,
  "0006-watch-leases": watchLeasesMigration,
  "0007-raw-spool": rawSpoolMigration,
  "0008-store-identity": storeIdentityMigration,
  "0009-handler-backfill": handlerBackfillMigration,
  "0010-lane-order": laneOrderMigration,
  "0011-sanitizer-version": sanitizerVersionMigration,
};

/**
 * The static list of Inbound's migrations for Kysely's `Migrator`.
 *
 * @example
 * ```ts
 * const migrator = new Migrator({ db, provider: createMigrationProvider() });
 * await migrator.migrateToLatest();
 * ```
 */
export function createMigrationProvider(): MigrationProvider {
  return { getMigrations: async () => ({ ...MIGRATIONS }) };
}
