import { createAccountRepository } from "./account-repository.js";
import { createWebhookRepository } from "./webhook-repository.js";
import { atomically, type Executor } from "./executor.js";
import type { SecretBox } from "../auth/secret-box.js";

/** Options for {@link rotateKeys}. */
export interface RotateKeysOptions {
  /** The database, or an open transaction to join. */
  db: Executor;
  /** A box whose key ring holds the active key and every key that sealed a stored secret. */
  box: SecretBox;
}

/** What {@link rotateKeys} did. */
export interface RotateKeysResult {
  resealed: number;
  /** Already sealed under the active key. */
  unchanged: number;
}

/**
 * Re-seal every account's stored password and webhook secret under the box's active key, in one
 * transaction: if any secret cannot be opened (SECRET_KEY_UNKNOWN or
 * SECRET_KEY_MISMATCH) nothing changes. Afterwards old keys are no longer needed.
 *
 * @example
 * ```ts
 * const { resealed } = await rotateKeys({ db: store.database.db, box });
 * ```
 */
export async function rotateKeys(options: RotateKeysOptions): Promise<RotateKeysResult> {
  return atomically(options.db, async (trx) => {
    const accounts = createAccountRepository(trx);
    let resealed = 0;
    let unchanged = 0;
    for (const { id, passwordEnc } of await accounts.listPasswordCiphertexts(trx)) {
      const next = options.box.rotate(passwordEnc);
      if (next === passwordEnc) {
        unchanged++;
      } else {
        await accounts.setPasswordCiphertext(id, next, trx);
        resealed++;
      }
    }
    const webhooks = createWebhookRepository(trx);
    for (const { id, secretEnc } of await webhooks.listSecretCiphertexts(trx)) {
      const next = options.box.rotate(secretEnc);
      if (next === secretEnc) {
        unchanged++;
      } else {
        await webhooks.setSecretCiphertext(id, next, trx);
        resealed++;
      }
    }
    return { resealed, unchanged };
  });
}
