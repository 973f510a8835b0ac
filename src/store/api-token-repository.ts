import { newId } from "../core/ids.js";
import type { Executor } from "./executor.js";
import type { ApiTokensTable, UserRole } from "./schema.js";
import { toTimestamp } from "./timestamp.js";

/** An API token as listed: never the token itself, nor its hash. */
export interface ApiTokenRecord {
  id: string;
  name: string;
  role: UserRole;
  createdBy: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/**
 * Bearer tokens for scripts. Only the SHA-256 of a token is stored, so a
 * database dump does not hand out access; the caller hashes.
 */
export interface ApiTokenRepository {
  create(input: { name: string; tokenHash: string; role: UserRole; createdBy: string | null }, executor?: Executor): Promise<ApiTokenRecord>;
  /** The live (not revoked) token with this hash, if any. */
  findActiveByHash(tokenHash: string, executor?: Executor): Promise<ApiTokenRecord | undefined>;
  find(id: string, executor?: Executor): Promise<ApiTokenRecord | undefined>;
  /** Newest first, revoked ones included. */
  list(executor?: Executor): Promise<ApiTokenRecord[]>;
  /** Mark revoked; `revoked: false` when there is no such live token. */
  revoke(id: string, executor?: Executor): Promise<{ revoked: boolean }>;
  markUsed(id: string, at?: Date, executor?: Executor): Promise<void>;
}

const COLUMNS = ["id", "name", "role", "created_by", "created_at", "last_used_at", "revoked_at"] as const;

function toRecord(row: Pick<ApiTokensTable, (typeof COLUMNS)[number]>): ApiTokenRecord {
  return { id: row.id, name: row.name, role: row.role, createdBy: row.created_by, createdAt: row.created_at, lastUsedAt: row.last_used_at, revokedAt: row.revoked_at };
}

/**
 * The API token repository over `db`.
 *
 * @example
 * ```ts
 * const tokens = createApiTokenRepository(db);
 * const record = await tokens.create({ name: "ci", tokenHash: sha256(token), role: "viewer", createdBy: admin.id });
 * await tokens.revoke(record.id);
 * ```
 */
export function createApiTokenRepository(db: Executor): ApiTokenRepository {
  return {
    async create(input, ex = db) {
      const row = { id: newId(), name: input.name, token_hash: input.tokenHash, role: input.role, created_by: input.createdBy, created_at: toTimestamp(), last_used_at: null, revoked_at: null };
      await ex.insertInto("api_tokens").values(row).execute();
      return toRecord(row);
    },

    async findActiveByHash(tokenHash, ex = db) {
      const row = await ex.selectFrom("api_tokens").select(COLUMNS).where("token_hash", "=", tokenHash).where("revoked_at", "is", null).executeTakeFirst();
      return row === undefined ? undefined : toRecord(row);
    },

    async find(id, ex = db) {
      const row = await ex.selectFrom("api_tokens").select(COLUMNS).where("id", "=", id).executeTakeFirst();
      return row === undefined ? undefined : toRecord(row);
    },

    async list(ex = db) {
      const rows = await ex.selectFrom("api_tokens").select(COLUMNS).orderBy("id", "desc").execute();
      return rows.map(toRecord);
    },

    async revoke(id, ex = db) {
      const result = await ex.updateTable("api_tokens").set({ revoked_at: toTimestamp() }).where("id", "=", id).where("revoked_at", "is", null).executeTakeFirst();
      return { revoked: result.numUpdatedRows > 0n };
    },

    async markUsed(id, at = new Date(), ex = db) {
      await ex.updateTable("api_tokens").set({ last_used_at: toTimestamp(at) }).where("id", "=", id).execute();
    },
  };
}
