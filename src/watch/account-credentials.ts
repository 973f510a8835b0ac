import type { SecretBox } from "../auth/secret-box.js";
import type { Store } from "../store/store.js";
import type { AccountCredentials } from "./account-supervisor.js";

/**
 * The `credentials` dependency of the watch layer: reads the account afresh
 * (so fixed settings apply on the next attempt) and opens its password with
 * the secret box. The password never leaves this call's result.
 *
 * @example
 * ```ts
 * const credentials = accountCredentials(store, createSecretBox(await loadKeyRing({ env: process.env, dataDir, log: console.warn })));
 * const { account, password } = await credentials(accountId);
 * ```
 */
export function accountCredentials(store: Store, box: SecretBox): (accountId: string) => Promise<AccountCredentials> {
  return async (accountId) => {
    const account = await store.accounts.get(accountId);
    return { account, password: box.open(await store.accounts.getPasswordCiphertext(account.id)) };
  };
}
