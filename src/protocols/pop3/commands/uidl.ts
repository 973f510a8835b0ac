import type { Pop3ResponseReader } from "../pop3-response-reader.js";
import { replyError } from "../pop3-command.js";
import { isTransientResponseCode } from "../pop3-reply-error.js";

/** One unique-id listing from UIDL. */
export interface UidlEntry {
  number: number;
  /** The server's persistent id for the message: 1–70 printable ASCII characters (RFC 1939 §7). */
  uidl: string;
}

// RFC 1939 §7: unique-id = 1*70 octets in 0x21..0x7E.
const UIDL_LINE = /^(\d+) ([\x21-\x7e]{1,70})$/;

/**
 * UIDL without argument (RFC 1939 §7). Inbound identifies POP3 messages by
 * UIDL, so a server that refuses it fails with POP3_UIDL_UNSUPPORTED
 * (unless its response code says the refusal is temporary).
 *
 * @example
 * ```ts
 * const ids = new Map((await uidl(reader)).map((e) => [e.uidl, e.number]));
 * ```
 */
export async function uidl(reader: Pop3ResponseReader): Promise<UidlEntry[]> {
  const { connection } = reader;
  connection.write("UIDL\r\n", "UIDL");
  const status = await reader.readStatus();
  if (status.kind === "err") {
    if (status.responseCode && isTransientResponseCode(status.responseCode)) throw replyError(reader, "UIDL", status);
    throw replyError(reader, "UIDL", status, "POP3_UIDL_UNSUPPORTED",
      `The POP3 server at ${connection.host}:${connection.port} does not support UIDL (unique message ids), so Inbound cannot tell which messages it already has; use IMAP for this mailbox or ask the server's admin to enable UIDL`);
  }
  if (status.kind !== "ok") throw reader.protocolError("answered UIDL with a SASL continuation");
  const lines = await reader.readLines();
  return lines.map((line) => {
    const match = UIDL_LINE.exec(line.trimEnd());
    if (!match) throw reader.protocolError(`sent a malformed UIDL line: ${JSON.stringify(line.slice(0, 80))}`);
    return { number: Number(match[1]), uidl: match[2] };
  });
}
