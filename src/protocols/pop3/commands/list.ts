import { runCommand } from "../pop3-command.js";
import type { Pop3ResponseReader } from "../pop3-response-reader.js";

/** One scan listing from LIST. */
export interface ListEntry {
  number: number;
  /** Size in octets as the server sends it (CRLF line endings). */
  size: number;
}

/**
 * LIST without argument (RFC 1939 §5): every message not marked deleted.
 *
 * @example
 * ```ts
 * for (const { number, size } of await list(reader)) console.log(number, size);
 * ```
 */
export async function list(reader: Pop3ResponseReader): Promise<ListEntry[]> {
  await runCommand(reader, "LIST");
  const lines = await reader.readLines();
  return lines.map((line) => {
    const match = /^(\d+) (\d+)(?: |$)/.exec(line);
    if (!match) throw reader.protocolError(`sent a malformed LIST line: ${JSON.stringify(line.slice(0, 80))}`);
    return { number: Number(match[1]), size: Number(match[2]) };
  });
}
