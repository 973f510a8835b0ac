import type { SecretBox } from "../auth/secret-box.js";
import type { Store } from "../store/store.js";
import type { WebhookRecord } from "../store/webhook-repository.js";

/** A webhook with its opened secret, as the sender needs it. */
export interface WebhookTarget {
  record: WebhookRecord;
  secret: string;
}

/** Enabled webhook targets, read from the database at most once per `maxAgeMs` (or after {@link WebhookTargetCache.invalidate}). */
export interface WebhookTargetCache {
  /** Enabled targets by id. */
  enabled(): Promise<Map<string, WebhookTarget>>;
  invalidate(): void;
}

/**
 * Keeps other processes' webhook changes visible within `maxAgeMs` without
 * querying (and decrypting) on every delivery.
 *
 * @example
 * ```ts
 * const targets = createWebhookTargetCache(store, box, 1000);
 * const target = (await targets.enabled()).get(webhookId);
 * ```
 */
export function createWebhookTargetCache(store: Store, box: SecretBox, maxAgeMs = 1_000, onUnreadable: (record: WebhookRecord, error: unknown) => void = () => undefined): WebhookTargetCache {
  let cached: { at: number; targets: Promise<Map<string, WebhookTarget>> } | undefined;
  // Told once per webhook and error, not at every reload.
  const told = new Set<string>();
  async function load(): Promise<Map<string, WebhookTarget>> {
    const targets = new Map<string, WebhookTarget>();
    for (const record of await store.webhooks.list()) {
      if (!record.enabled) continue;
      try {
        targets.set(record.id, { record, secret: box.open(await store.webhooks.getSecretCiphertext(record.id)) });
      } catch (error) {
        // A secret sealed under a key this process lacks (another data dir's secret.key, say) stops
        // that webhook only: its deliveries wait, as a disabled one's do, and every other goes on.
        const key = `${record.id}:${error instanceof Error ? error.message : String(error)}`;
        if (!told.has(key)) {
          told.add(key);
          onUnreadable(record, error);
        }
      }
    }
    return targets;
  }
  return {
    enabled() {
      if (!cached || Date.now() - cached.at > maxAgeMs) {
        const entry = { at: Date.now(), targets: load() };
        entry.targets.catch(() => {
          if (cached === entry) cached = undefined;
        });
        cached = entry;
      }
      return cached.targets;
    },
    invalidate() {
      cached = undefined;
    },
  };
}
