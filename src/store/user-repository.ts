import type { Transaction } from "kysely";
import { newId } from "../core/ids.js";
import type { Executor } from "./executor.js";
import type { Schema, UserRole, UsersTable } from "./schema.js";
import { toTimestamp } from "./timestamp.js";

/** A user as the rest of Inbound sees it. Never carries the password hash. */
export interface UserRecord {
  id: string;
  username: string;
  role: UserRole;
  createdAt: string;
  updatedAt: string;
}

/** What {@link UserRepository.create} did: `created: false` when the username is taken. */
export type CreateUserOutcome = { created: true; user: UserRecord } | { created: false };

/** A stored browser session, found by the SHA-256 of its cookie value. */
export interface SessionRecord {
  idHash: string;
  userId: string;
  csrfToken: string;
  createdAt: string;
  lastSeenAt: string;
  expiresAt: string;
}

/**
 * Users and their browser sessions. Lookups that find nothing answer
 * `undefined` (a normal answer for a login attempt or an expired cookie);
 * the server turns that into its own error.
 */
export interface UserRepository {
  /** Insert a user; the username is unique (case as given). */
  create(input: { username: string; passwordHash: string; role: UserRole }, executor?: Executor): Promise<CreateUserOutcome>;
  find(id: string, executor?: Executor): Promise<UserRecord | undefined>;
  /** The user and its password hash, for sign-in only. */
  findCredentials(username: string, executor?: Executor): Promise<{ user: UserRecord; passwordHash: string } | undefined>;
  /** All users, by username. */
  list(executor?: Executor): Promise<UserRecord[]>;
  count(executor?: Executor): Promise<number>;
  countByRole(role: UserRole, executor?: Executor): Promise<number>;
  /**
   * Take the write lock on every admin row until `transaction` ends, and
   * answer how many admins there are. A concurrent demotion or removal that
   * does the same waits for this transaction and then counts what it left,
   * so "is this the last admin?" cannot be answered twice with the same
   * count. Relies on READ COMMITTED on PostgreSQL (its default, which
   * Inbound keeps).
   */
  lockAdmins(transaction: Transaction<Schema>): Promise<number>;
  /** Change role and/or password hash; `undefined` when there is no such user. */
  update(id: string, patch: { role?: UserRole; passwordHash?: string }, executor?: Executor): Promise<UserRecord | undefined>;
  /** Delete the user and (cascade) its sessions. Returns whether it existed. */
  remove(id: string, executor?: Executor): Promise<{ removed: boolean }>;
  createSession(session: { idHash: string; userId: string; csrfToken: string; expiresAt: string }, executor?: Executor): Promise<SessionRecord>;
  /** The session if it exists and has not expired. */
  findSession(idHash: string, now?: Date, executor?: Executor): Promise<SessionRecord | undefined>;
  /** Move `lastSeenAt` and `expiresAt` on (sliding expiry). */
  touchSession(idHash: string, expiresAt: string, executor?: Executor): Promise<void>;
  deleteSession(idHash: string, executor?: Executor): Promise<void>;
  /** Sign a user out everywhere (after a password or role change). */
  deleteSessionsOf(userId: string, executor?: Executor): Promise<void>;
  deleteExpiredSessions(now?: Date, executor?: Executor): Promise<number>;
}

const USER_COLUMNS = ["id", "username", "role", "created_at", "updated_at"] as const;

function toUser(row: Pick<UsersTable, (typeof USER_COLUMNS)[number]>): UserRecord {
  return { id: row.id, username: row.username, role: row.role, createdAt: row.created_at, updatedAt: row.updated_at };
}

function toSession(row: { id_hash: string; user_id: string; csrf_token: string; created_at: string; last_seen_at: string; expires_at: string }): SessionRecord {
  return { idHash: row.id_hash, userId: row.user_id, csrfToken: row.csrf_token, createdAt: row.created_at, lastSeenAt: row.last_seen_at, expiresAt: row.expires_at };
}

/**
 * The user repository over `db`.
 *
 * @example
 * ```ts
 * const users = createUserRepository(db);
 * const outcome = await users.create({ username: "ops", passwordHash: await hashPassword(pw), role: "viewer" });
 * if (!outcome.created) console.log("taken");
 * ```
 */
export function createUserRepository(db: Executor): UserRepository {
  return {
    async create(input, ex = db) {
      const now = toTimestamp();
      const row = await ex
        .insertInto("users")
        .values({ id: newId(), username: input.username, password_hash: input.passwordHash, role: input.role, created_at: now, updated_at: now })
        .onConflict((oc) => oc.column("username").doNothing())
        .returning(USER_COLUMNS)
        .executeTakeFirst();
      return row === undefined ? { created: false } : { created: true, user: toUser(row) };
    },

    async find(id, ex = db) {
      const row = await ex.selectFrom("users").select(USER_COLUMNS).where("id", "=", id).executeTakeFirst();
      return row === undefined ? undefined : toUser(row);
    },

    async findCredentials(username, ex = db) {
      const row = await ex.selectFrom("users").select([...USER_COLUMNS, "password_hash"]).where("username", "=", username).executeTakeFirst();
      return row === undefined ? undefined : { user: toUser(row), passwordHash: row.password_hash };
    },

    async list(ex = db) {
      const rows = await ex.selectFrom("users").select(USER_COLUMNS).orderBy("username").execute();
      return rows.map(toUser);
    },

    async count(ex = db) {
      const row = await ex.selectFrom("users").select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirstOrThrow();
      return Number(row.n);
    },

    async countByRole(role, ex = db) {
      const row = await ex.selectFrom("users").select((eb) => eb.fn.countAll<number>().as("n")).where("role", "=", role).executeTakeFirstOrThrow();
      return Number(row.n);
    },

    async lockAdmins(trx) {
      // A no-op UPDATE locks the rows on both databases (SQLite takes its one write lock; PostgreSQL
      // locks each admin row and, after waiting, re-checks the row, skipping one demoted meanwhile).
      // The count after it is a new statement, so under READ COMMITTED it sees what the waited-for
      // transaction committed.
      await trx.updateTable("users").set((eb) => ({ role: eb.ref("role") })).where("role", "=", "admin").execute();
      const row = await trx.selectFrom("users").select((eb) => eb.fn.countAll<number>().as("n")).where("role", "=", "admin").executeTakeFirstOrThrow();
      return Number(row.n);
    },

    async update(id, patch, ex = db) {
      const row = await ex
        .updateTable("users")
        .set({
          ...(patch.role === undefined ? {} : { role: patch.role }),
          ...(patch.passwordHash === undefined ? {} : { password_hash: patch.passwordHash }),
          updated_at: toTimestamp(),
        })
        .where("id", "=", id)
        .returning(USER_COLUMNS)
        .executeTakeFirst();
      return row === undefined ? undefined : toUser(row);
    },

    async remove(id, ex = db) {
      // Sessions go first: SQLite only cascades with foreign keys switched on.
      await ex.deleteFrom("sessions").where("user_id", "=", id).execute();
      const result = await ex.deleteFrom("users").where("id", "=", id).executeTakeFirst();
      return { removed: result.numDeletedRows > 0n };
    },

    async createSession(session, ex = db) {
      const now = toTimestamp();
      const row = { id_hash: session.idHash, user_id: session.userId, csrf_token: session.csrfToken, created_at: now, last_seen_at: now, expires_at: session.expiresAt };
      await ex.insertInto("sessions").values(row).execute();
      return toSession(row);
    },

    async findSession(idHash, now = new Date(), ex = db) {
      const row = await ex.selectFrom("sessions").selectAll().where("id_hash", "=", idHash).where("expires_at", ">", toTimestamp(now)).executeTakeFirst();
      return row === undefined ? undefined : toSession(row);
    },

    async touchSession(idHash, expiresAt, ex = db) {
      await ex.updateTable("sessions").set({ last_seen_at: toTimestamp(), expires_at: expiresAt }).where("id_hash", "=", idHash).execute();
    },

    async deleteSession(idHash, ex = db) {
      await ex.deleteFrom("sessions").where("id_hash", "=", idHash).execute();
    },

    async deleteSessionsOf(userId, ex = db) {
      await ex.deleteFrom("sessions").where("user_id", "=", userId).execute();
    },

    async deleteExpiredSessions(now = new Date(), ex = db) {
      const result = await ex.deleteFrom("sessions").where("expires_at", "<=", toTimestamp(now)).executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}
