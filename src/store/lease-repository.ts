import { createDatabaseClock, type DatabaseClock } from "./database-clock.js";
import type { Executor } from "./executor.js";
import { toTimestamp } from "./timestamp.js";

/** Who holds a lease. */
export interface LeaseHolder {
  owner: string;
  expiresAt: string;
}

/** Outcome of {@link LeaseRepository.tryAcquire}: taken, or held by someone else (a normal answer). */
export type LeaseAttempt = { acquired: true } | { acquired: false; holder: LeaseHolder };

/**
 * Time-limited, database-held leases on accounts, so that one process at a
 * time retrieves an account, whichever machine it runs on. A lease that is
 * not renewed expires and can be taken over.
 */
export interface LeaseRepository {
  /** Take the lease unless a live one is held by another owner. `canSteal` may declare a holder dead early. */
  tryAcquire(accountId: string, owner: string, ttlMs: number, canSteal?: (holder: LeaseHolder) => boolean): Promise<LeaseAttempt>;
  /** Extend a held lease; false when it was lost (expired and taken over). */
  renew(accountId: string, owner: string, ttlMs: number): Promise<boolean>;
  release(accountId: string, owner: string): Promise<void>;
  /** Extend every lease `owner` holds in one statement; returns the accounts it still holds. */
  renewAll(owner: string, ttlMs: number): Promise<Set<string>>;
}

/** The tables holding leases: retrieval runs, and watches (who watches or polls an account). */
export type LeaseTable = "run_leases" | "watch_leases";

/**
 * The lease repository over `db`; one upsert decides, on SQLite and PostgreSQL alike.
 * Expiry times are written and compared on `clock`, the database's time, so
 * machines whose own clocks disagree still agree on whose lease is live.
 *
 * @example
 * ```ts
 * const leases = createLeaseRepository(db);
 * const attempt = await leases.tryAcquire(accountId, "host:123:ab12", 30_000);
 * ```
 */
export function createLeaseRepository(db: Executor, table: LeaseTable = "run_leases", clock: DatabaseClock = createDatabaseClock()): LeaseRepository {
  const expiry = (ttlMs: number) => toTimestamp(clock.now() + ttlMs);

  async function upsert(accountId: string, owner: string, ttlMs: number, force: boolean): Promise<LeaseHolder> {
    const now = toTimestamp(clock.now());
    await db
      .insertInto(table)
      .values({ account_id: accountId, owner, expires_at: expiry(ttlMs) })
      .onConflict((oc) => {
        const update = oc.column("account_id").doUpdateSet({ owner, expires_at: expiry(ttlMs) });
        return force ? update : update.where((eb) => eb.or([eb(`${table}.expires_at`, "<", now), eb(`${table}.owner`, "=", owner)]));
      })
      .execute();
    const row = await db.selectFrom(table).select(["owner", "expires_at"]).where("account_id", "=", accountId).executeTakeFirstOrThrow();
    return { owner: row.owner, expiresAt: row.expires_at };
  }

  return {
    async tryAcquire(accountId, owner, ttlMs, canSteal) {
      let holder = await upsert(accountId, owner, ttlMs, false);
      if (holder.owner !== owner && canSteal?.(holder)) {
        // Only replace the dead holder we looked at, not one that took over meanwhile.
        await db.deleteFrom(table).where("account_id", "=", accountId).where("owner", "=", holder.owner).execute();
        holder = await upsert(accountId, owner, ttlMs, false);
      }
      return holder.owner === owner ? { acquired: true } : { acquired: false, holder };
    },
    async renew(accountId, owner, ttlMs) {
      const result = await db.updateTable(table).set({ expires_at: expiry(ttlMs) }).where("account_id", "=", accountId).where("owner", "=", owner).executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },
    async release(accountId, owner) {
      await db.deleteFrom(table).where("account_id", "=", accountId).where("owner", "=", owner).execute();
    },
    async renewAll(owner, ttlMs) {
      await db.updateTable(table).set({ expires_at: expiry(ttlMs) }).where("owner", "=", owner).execute();
      const rows = await db.selectFrom(table).select("account_id").where("owner", "=", owner).execute();
      return new Set(rows.map((r) => r.account_id));
    },
  };
}
