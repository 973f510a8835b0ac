import { join } from "node:path";
import type { Readable } from "node:stream";
import type { Transaction } from "kysely";
import { createAccountRepository, type AccountRepository } from "./account-repository.js";
import { createApiTokenRepository, type ApiTokenRepository } from "./api-token-repository.js";
import { createBlobStore, type BlobStore } from "./blob-store.js";
import { createDeliveryRepository, type DeliveryRepository } from "./delivery-repository.js";
import { createCheckpointRepository, type CheckpointRepository } from "./checkpoint-repository.js";
import { openDatabase, type Database, type OpenDatabaseOptions } from "./database.js";
import { createEventRepository, type EventRepository } from "./event-repository.js";
import { createLeaseRepository, type LeaseRepository } from "./lease-repository.js";
import { createMessageRepository, type MessageRepository, type RawLocation } from "./message-repository.js";
import { createRawSpool, type RawSpool } from "./raw-spool.js";
import type { Schema } from "./schema.js";
import { createSpoolOwner, guardSpoolWrites, type SpoolOwner } from "./spool-owner.js";
import { createWebhookRepository, type WebhookRepository } from "./webhook-repository.js";
import { createSubscriptionRepository, type SubscriptionRepository } from "./subscription-repository.js";
import { createUserRepository, type UserRepository } from "./user-repository.js";

/** Options for {@link createStore}: the database URL (absent = SQLite) and the data directory (SQLite file, blobs). */
export type StoreOptions = OpenDatabaseOptions;

/** Everything persistent: the database, its repositories and the blob store. */
export interface Store {
  database: Database;
  accounts: AccountRepository;
  messages: MessageRepository;
  checkpoints: CheckpointRepository;
  events: EventRepository;
  /** Retrieval run leases: one run of an account at a time, across processes. */
  leases: LeaseRepository;
  /** Watch leases: one process watches or polls an account. */
  watchLeases: LeaseRepository;
  webhooks: WebhookRepository;
  deliveries: DeliveryRepository;
  subscriptions: SubscriptionRepository;
  users: UserRepository;
  apiTokens: ApiTokenRepository;
  blobs: BlobStore;
  /**
   * Raw messages: one append-only segment file per batch, kept while any
   * message points into it. Creating a segment throws STORE_MISMATCH unless
   * the spool belongs to this database (see `spoolOwner`).
   */
  spool: RawSpool;
  /** Which database the spool belongs to; only its owner takes into it or sweeps it. */
  spoolOwner: SpoolOwner;
  /** A stored message's raw bytes. Throws BLOB_NOT_FOUND when the file holding them is gone. */
  openRaw(location: RawLocation): Readable;
  /**
   * Run `fn` in one database transaction: committed if it resolves, rolled
   * back if it throws. Pass `trx` to every repository call inside.
   */
  transaction<T>(fn: (trx: Transaction<Schema>) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * Open the store: database (migrated) plus blobs under `<dataDir>/blobs`.
 *
 * @example
 * ```ts
 * const store = await createStore({ databaseUrl: process.env.DATABASE_URL, dataDir: "/var/lib/inbound" });
 * try {
 *   await store.transaction(async (trx) => {
 *     await store.messages.insertTaken(trx, taken);
 *     await store.checkpoints.advance(trx, accountId, "INBOX", uidValidity, lastUid);
 *   });
 * } finally { await store.close(); }
 * ```
 */
export async function createStore(options: StoreOptions): Promise<Store> {
  const database = await openDatabase(options);
  const { db } = database;
  const blobs = createBlobStore(join(options.dataDir, "blobs"));
  const rawSpool = createRawSpool(join(blobs.dir, "spool"));
  const messages = createMessageRepository(db);
  const events = createEventRepository(db);
  const spoolOwner = createSpoolOwner({ spool: rawSpool, databaseId: database.id, database: database.description, messages, events });
  const spool = guardSpoolWrites(rawSpool, spoolOwner);
  return {
    database,
    accounts: createAccountRepository(db),
    messages,
    checkpoints: createCheckpointRepository(db),
    events,
    leases: createLeaseRepository(db, "run_leases", database.clock),
    watchLeases: createLeaseRepository(db, "watch_leases", database.clock),
    webhooks: createWebhookRepository(db),
    deliveries: createDeliveryRepository(db, database.clock),
    subscriptions: createSubscriptionRepository(db),
    users: createUserRepository(db),
    apiTokens: createApiTokenRepository(db),
    blobs,
    spool,
    spoolOwner,
    openRaw(location) {
      return location.spool === null ? blobs.createReadStream(location.rawSha256) : spool.createReadStream(location.spool, location.size);
    },
    transaction: (fn) => db.transaction().execute(fn),
    close: () => database.close(),
  };
}
