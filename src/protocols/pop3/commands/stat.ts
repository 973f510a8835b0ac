import { runCommand } from "../pop3-command.js";
import type { Pop3ResponseReader } from "../pop3-response-reader.js";

/** The maildrop's size from STAT. */
export interface StatData {
  /** Messages not marked deleted in this session. */
  count: number;
  /** Their total size in octets. */
  size: number;
}

/**
 * STAT (RFC 1939 §5).
 *
 * @example
 * ```ts
 * const { count, size } = await stat(reader);
 * ```
 */
export async function stat(reader: Pop3ResponseReader): Promise<StatData> {
  const status = await runCommand(reader, "STAT");
  const match = /^(\d+) (\d+)(?: |$)/.exec(status.text);
  if (!match) throw reader.protocolError(`sent a STAT reply without count and size: ${JSON.stringify(status.text.slice(0, 80))}`);
  return { count: Number(match[1]), size: Number(match[2]) };
}
