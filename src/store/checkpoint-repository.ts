import { sql } from "kysely";
import type { Executor } from "./executor.js";
import { toTimestamp } from "./timestamp.js";

/** How far an IMAP folder has been taken: every UID up to `lastUid` under `uidValidity` is stored. */
export interface Checkpoint {
  uidValidity: string;
  lastUid: number;
}

/** Per-folder IMAP checkpoints. */
export interface CheckpointRepository {
  /** The folder's checkpoint; `undefined` when the folder was never fetched (a normal answer). */
  get(accountId: string, folder: string, executor?: Executor): Promise<Checkpoint | undefined>;
  /**
   * Move the checkpoint up to `uid`. Under the same UIDVALIDITY it never moves
   * down (a late, smaller UID is ignored); a different UIDVALIDITY replaces it,
   * because the old UIDs mean nothing any more.
   */
  advance(trx: Executor, accountId: string, folder: string, uidValidity: string | number | bigint, uid: number): Promise<Checkpoint>;
  /** Drop every checkpoint of the account: it points at another mailbox, where they mean nothing. */
  forgetAll(trx: Executor, accountId: string): Promise<void>;
}

/**
 * The checkpoint repository over `db`.
 *
 * @example
 * ```ts
 * const checkpoints = createCheckpointRepository(db);
 * await checkpoints.advance(trx, account.id, "INBOX", mailbox.uidValidity, 1234);
 * (await checkpoints.get(account.id, "INBOX"))?.lastUid; // 1234
 * ```
 */
export function createCheckpointRepository(db: Executor): CheckpointRepository {
  return {
    async get(accountId, folder, ex = db) {
      const row = await ex
        .selectFrom("checkpoints")
        .select(["uid_validity", "last_uid"])
        .where("account_id", "=", accountId)
        .where("folder", "=", folder)
        .executeTakeFirst();
      return row === undefined ? undefined : { uidValidity: row.uid_validity, lastUid: row.last_uid };
    },

    async advance(trx, accountId, folder, uidValidity, uid) {
      const validity = String(uidValidity);
      // One upsert, so concurrent advances cannot interleave a read and a write.
      // CASE rather than GREATEST/MAX: the same SQL on SQLite and PostgreSQL.
      const row = await trx
        .insertInto("checkpoints")
        .values({ account_id: accountId, folder, uid_validity: validity, last_uid: uid, updated_at: toTimestamp() })
        .onConflict((oc) =>
          oc.columns(["account_id", "folder"]).doUpdateSet({
            last_uid: sql<number>`case
              when checkpoints.uid_validity <> excluded.uid_validity then excluded.last_uid
              when excluded.last_uid > checkpoints.last_uid then excluded.last_uid
              else checkpoints.last_uid end`,
            uid_validity: sql<string>`excluded.uid_validity`,
            updated_at: sql<string>`excluded.updated_at`,
          }),
        )
        .returning(["uid_validity", "last_uid"])
        .executeTakeFirstOrThrow();
      return { uidValidity: row.uid_validity, lastUid: row.last_uid };
    },

    async forgetAll(trx, accountId) {
      await trx.deleteFrom("checkpoints").where("account_id", "=", accountId).execute();
    },
  };
}
