import { newId } from "../core/ids.js";
import { atomically, type Executor } from "./executor.js";
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
  /**
   * The live tokens `issuer` created, and the tokens those created, and so
   * on: revoke them all (`"revoke"`: the issuer was removed or revoked), or
   * lower the admin ones to viewer (`"viewer"`: the issuer was demoted).
   * `issuer` is a user id or `token:<id>`, as in `createdBy`. Returns the
   * ids changed.
   */
  restrictIssuedBy(issuer: string, action: "revoke" | "viewer", executor?: Executor): Promise<{ changed: string[] }>;
}

/** Ids per `IN (...)` list, well under both databases' parameter limits. */
const CHUNK = 500;

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
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

    async restrictIssuedBy(issuer, action, ex = db) {
      return atomically(ex, async (trx) => {
        // Walk down the tree of live tokens, one level per query; `seen` guards against a cycle in bad data.
        const seen = new Set<string>();
        let issuers = [issuer];
        while (issuers.length > 0) {
          const next: string[] = [];
          for (const part of chunks(issuers)) {
            const rows = await trx.selectFrom("api_tokens").select("id").where("created_by", "in", part).where("revoked_at", "is", null).execute();
            for (const { id } of rows) {
              if (seen.has(id)) continue;
              seen.add(id);
              next.push(id);
            }
          }
          issuers = next.map((id) => `token:${id}`);
        }
        const changed: string[] = [];
        for (const part of chunks([...seen])) {
          const query =
            action === "revoke"
              ? trx.updateTable("api_tokens").set({ revoked_at: toTimestamp() }).where("id", "in", part).where("revoked_at", "is", null)
              : trx.updateTable("api_tokens").set({ role: "viewer" }).where("id", "in", part).where("role", "=", "admin");
          const rows = await query.returning("id").execute();
          changed.push(...rows.map((r) => r.id));
        }
        return { changed };
      });
    },
  };
}
