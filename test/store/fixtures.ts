import { parseAccountSettings } from "../../src/core/account-settings.js";
import type { TakenMessage } from "../../src/store/message-repository.js";
import { sourceKey } from "../../src/store/source-key.js";
import type { Store } from "../../src/store/store.js";

/** A valid IMAP account's settings with the given name. */
export function imapSettings(name = "support") {
  return parseAccountSettings({ name, protocol: "imaps", host: "mail.example.com", username: "u", password: "plain-password-123" });
}

/** Create an account and return its id. */
export async function createAccount(store: Store, name = "support"): Promise<string> {
  const account = await store.accounts.create(imapSettings(name), "v1:00000000:iv:tag:ct");
  return account.id;
}

/** A message taken from IMAP INBOX under UIDVALIDITY 7. */
export function takenImap(accountId: string, uid: number, overrides: Partial<TakenMessage> = {}): TakenMessage {
  return {
    accountId,
    sourceKey: sourceKey({ protocol: "imap", folder: "INBOX", uidValidity: 7, uid }),
    folder: "INBOX",
    uidValidity: "7",
    uid,
    uidl: null,
    rawSha256: "a".repeat(64),
    size: 1000 + uid,
    internalDate: new Date("2025-01-02T03:04:05Z"),
    flags: ["\\Seen"],
    messageIdHeader: `<m${uid}@example.com>`,
    sentDate: new Date("2025-01-02T03:00:00Z"),
    subject: `Message ${uid}`,
    ...overrides,
  };
}
