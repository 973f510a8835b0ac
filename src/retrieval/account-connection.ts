import type { AccountSettings } from "../core/account-settings.js";
import type { ServerConnectionOptions } from "../protocols/server-connection-options.js";

/** The settings of an account that say how to reach and sign in to its server. */
export type AccountEndpoint = Pick<AccountSettings, "host" | "port" | "security" | "tlsVerify" | "tlsCa" | "username" | "timeoutMs">;

/**
 * How to connect for an account: its server settings plus the opened password.
 * Every session (retrieval, test, folders, IDLE) is built from this one place.
 *
 * @example
 * ```ts
 * const session = await openImapSession(accountConnection(account, password, signal));
 * ```
 */
export function accountConnection(account: AccountEndpoint, password: string, signal?: AbortSignal): ServerConnectionOptions {
  const { host, port, security, tlsVerify, tlsCa, username, timeoutMs } = account;
  return { host, port, security, tlsVerify, tlsCa, username, password, timeoutMs, signal };
}
