import type { Selectable } from "kysely";
import { InboundError } from "../core/inbound-error.js";
import { newId } from "../core/ids.js";
import { lockDispatch } from "./dispatch-lock.js";
import { atomically, type Executor } from "./executor.js";
import type { WebhooksTable } from "./schema.js";
import { toTimestamp } from "./timestamp.js";

/** A webhook target as the rest of Inbound sees it. Never carries the secret or its ciphertext. */
export interface WebhookRecord {
  id: string;
  url: string;
  /** Event types it receives; `["*"]` for all. */
  events: string[];
  description: string | null;
  enabled: boolean;
  /** Why it was turned off automatically (e.g. `410 Gone`), else `null`. */
  disabledReason: string | null;
  createdAt: string;
  updatedAt: string;
}

/** What {@link WebhookRepository.create} stores; validated by the caller. */
export interface WebhookInsert {
  url: string;
  events: string[];
  secretEnc: string;
  description?: string | null;
  enabled?: boolean;
}

/** A change to a webhook; absent fields stay as they are. */
export interface WebhookPatch {
  url?: string;
  events?: string[];
  secretEnc?: string;
  description?: string | null;
  enabled?: boolean;
  disabledReason?: string | null;
}

/** Webhook targets and their sealed secrets. */
export interface WebhookRepository {
  create(input: WebhookInsert, executor?: Executor): Promise<WebhookRecord>;
  /** Throws WEBHOOK_NOT_FOUND. */
  get(id: string, executor?: Executor): Promise<WebhookRecord>;
  /** Oldest first. */
  list(executor?: Executor): Promise<WebhookRecord[]>;
  /** Throws WEBHOOK_NOT_FOUND. */
  update(id: string, patch: WebhookPatch, executor?: Executor): Promise<WebhookRecord>;
  /** Delete the target and every delivery queued for it. Throws WEBHOOK_NOT_FOUND. */
  remove(id: string, executor?: Executor): Promise<void>;
  /** The sealed secret, for the secret box to open. */
  getSecretCiphertext(id: string, executor?: Executor): Promise<string>;
  /** Every webhook's sealed secret (key rotation). */
  listSecretCiphertexts(executor?: Executor): Promise<Array<{ id: string; secretEnc: string }>>;
  setSecretCiphertext(id: string, secretEnc: string, executor?: Executor): Promise<void>;
}

/** The consumer name deliveries of a webhook are queued under. */
export function webhookConsumer(id: string): string {
  return `webhook:${id}`;
}

function notFound(id: string): InboundError {
  return new InboundError("WEBHOOK_NOT_FOUND", { message: `No webhook has the id "${id}"; list them with \`inbound webhooks list\`.`, details: { id } });
}

function toRecord(row: Omit<Selectable<WebhooksTable>, "secret_enc">): WebhookRecord {
  return {
    id: row.id,
    url: row.url,
    events: JSON.parse(row.events_json) as string[],
    description: row.description,
    enabled: Number(row.enabled) === 1,
    disabledReason: row.disabled_reason,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

const PUBLIC_COLUMNS = ["id", "url", "events_json", "description", "enabled", "disabled_reason", "created_at", "updated_at"] as const;

/**
 * The webhook repository over `db`.
 *
 * @example
 * ```ts
 * const webhooks = createWebhookRepository(db);
 * const hook = await webhooks.create({ url: "https://app.example.com/inbound", events: ["*"], secretEnc: box.seal(secret) });
 * ```
 */
export function createWebhookRepository(db: Executor): WebhookRepository {
  async function get(id: string, ex: Executor = db): Promise<WebhookRecord> {
    const row = await ex.selectFrom("webhooks").select(PUBLIC_COLUMNS).where("id", "=", id).executeTakeFirst();
    if (!row) throw notFound(id);
    return toRecord(row);
  }
  return {
    async create(input, ex = db) {
      const now = toTimestamp();
      const id = newId();
      await ex
        .insertInto("webhooks")
        .values({
          id,
          url: input.url,
          events_json: JSON.stringify(input.events),
          secret_enc: input.secretEnc,
          description: input.description ?? null,
          enabled: input.enabled === false ? 0 : 1,
          disabled_reason: null,
          created_at: now,
          updated_at: now,
        })
        .execute();
      return get(id, ex);
    },
    get,
    async list(ex = db) {
      const rows = await ex.selectFrom("webhooks").select(PUBLIC_COLUMNS).orderBy("id").execute();
      return rows.map(toRecord);
    },
    async update(id, patch, ex = db) {
      const result = await ex
        .updateTable("webhooks")
        .set({
          ...(patch.url !== undefined ? { url: patch.url } : {}),
          ...(patch.events !== undefined ? { events_json: JSON.stringify(patch.events) } : {}),
          ...(patch.secretEnc !== undefined ? { secret_enc: patch.secretEnc } : {}),
          ...(patch.description !== undefined ? { description: patch.description } : {}),
          ...(patch.enabled !== undefined ? { enabled: patch.enabled ? 1 : 0 } : {}),
          ...(patch.disabledReason !== undefined ? { disabled_reason: patch.disabledReason } : {}),
          updated_at: toTimestamp(),
        })
        .where("id", "=", id)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) throw notFound(id);
      return get(id, ex);
    },
    async remove(id, ex = db) {
      await atomically(ex, async (trx) => {
        await lockDispatch(trx);
        const result = await trx.deleteFrom("webhooks").where("id", "=", id).executeTakeFirst();
        if (Number(result.numDeletedRows) === 0) throw notFound(id);
        await trx.deleteFrom("deliveries").where("consumer", "=", webhookConsumer(id)).execute();
      });
    },
    async getSecretCiphertext(id, ex = db) {
      const row = await ex.selectFrom("webhooks").select("secret_enc").where("id", "=", id).executeTakeFirst();
      if (!row) throw notFound(id);
      return row.secret_enc;
    },
    async listSecretCiphertexts(ex = db) {
      const rows = await ex.selectFrom("webhooks").select(["id", "secret_enc"]).orderBy("id").execute();
      return rows.map((r) => ({ id: r.id, secretEnc: r.secret_enc }));
    },
    async setSecretCiphertext(id, secretEnc, ex = db) {
      await ex.updateTable("webhooks").set({ secret_enc: secretEnc, updated_at: toTimestamp() }).where("id", "=", id).execute();
    },
  };
}
