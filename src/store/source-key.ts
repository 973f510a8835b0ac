/** Where a message was taken from: an IMAP UID under one UIDVALIDITY, or a POP3 UIDL. */
export type MessageSource =
  | { protocol: "imap"; folder: string; uidValidity: string | number | bigint; uid: number }
  | { protocol: "pop3"; uidl: string };

function uidValidityText(value: string | number | bigint): string {
  const text = String(value);
  // Digits only keeps `imap:<folder>:<uidValidity>:<uid>` unambiguous even when the folder contains ':'.
  if (!/^\d+$/.test(text)) throw new RangeError(`UIDVALIDITY must be a non-negative integer, got ${JSON.stringify(text)}`);
  return text;
}

/**
 * The identity of a message within its account, as stored in the
 * `message_sources` ledger: `imap:<folder>:<uidValidity>:<uid>` or
 * `pop3:<uidl>`. Throws RangeError for values no server can send (a caller bug).
 *
 * @example
 * ```ts
 * sourceKey({ protocol: "imap", folder: "INBOX", uidValidity: 1700000000n, uid: 42 }); // "imap:INBOX:1700000000:42"
 * sourceKey({ protocol: "pop3", uidl: "000001a2b3" }); // "pop3:000001a2b3"
 * ```
 */
export function sourceKey(source: MessageSource): string {
  if (source.protocol === "pop3") {
    if (source.uidl.length === 0) throw new RangeError("UIDL must not be empty");
    return `pop3:${source.uidl}`;
  }
  if (!Number.isSafeInteger(source.uid) || source.uid < 1) throw new RangeError(`UID must be a positive integer, got ${source.uid}`);
  return `${imapSourceKeyPrefix(source.folder, source.uidValidity)}${source.uid}`;
}

/**
 * The common start of every source key of one folder under one UIDVALIDITY.
 *
 * @example
 * ```ts
 * imapSourceKeyPrefix("INBOX", 7); // "imap:INBOX:7:"
 * ```
 */
export function imapSourceKeyPrefix(folder: string, uidValidity: string | number | bigint): string {
  if (folder.length === 0) throw new RangeError("folder must not be empty");
  return `imap:${folder}:${uidValidityText(uidValidity)}:`;
}

/** The start of every POP3 source key. */
export const POP3_SOURCE_KEY_PREFIX = "pop3:";
