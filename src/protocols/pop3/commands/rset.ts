import { runCommand } from "../pop3-command.js";
import type { Pop3ResponseReader } from "../pop3-response-reader.js";

/**
 * RSET (RFC 1939 §5): unmark every message marked deleted in this session.
 *
 * @example
 * ```ts
 * await rset(reader);
 * ```
 */
export async function rset(reader: Pop3ResponseReader): Promise<void> {
  await runCommand(reader, "RSET");
}
