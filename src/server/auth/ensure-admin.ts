import { randomBytes } from "node:crypto";
import type { Store } from "../../store/store.js";
import { hashPassword } from "./password-hash.js";

/** What {@link ensureAdmin} did. */
export type EnsureAdminResult =
  | { created: false }
  | {
      created: true;
      username: string;
      /** Present only when the password was generated: show it once, it is not stored anywhere in clear. */
      generatedPassword?: string;
    };

/**
 * On a first start (no users at all) create the user `admin` with the
 * password from `INBOUND_ADMIN_PASSWORD`, or a generated one that the caller
 * prints once. With users present it does nothing (the variable is not
 * re-applied, so changing it later cannot reset a password by accident).
 *
 * @example
 * ```ts
 * const result = await ensureAdmin({ store: inbound.store, env: process.env });
 * if (result.created && result.generatedPassword) console.log(`admin password: ${result.generatedPassword}`);
 * ```
 */
export async function ensureAdmin(options: { store: Pick<Store, "users">; env?: Readonly<Record<string, string | undefined>> }): Promise<EnsureAdminResult> {
  const { users } = options.store;
  if ((await users.count()) > 0) return { created: false };
  const given = options.env?.INBOUND_ADMIN_PASSWORD;
  const password = given !== undefined && given.length > 0 ? given : randomBytes(18).toString("base64url");
  const outcome = await users.create({ username: "admin", passwordHash: await hashPassword(password), role: "admin" });
  // Another process won the race to create the first user: fine, it printed its own password.
  if (!outcome.created) return { created: false };
  return given !== undefined && given.length > 0 ? { created: true, username: "admin" } : { created: true, username: "admin", generatedPassword: password };
}
