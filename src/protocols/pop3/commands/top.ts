import { messageNumber, runCommand } from "../pop3-command.js";
import { DotBodyReader } from "../dot-body-reader.js";
import type { Pop3ResponseReader } from "../pop3-response-reader.js";

/**
 * TOP (RFC 1939 §7): a message's header and its first `lines` body lines,
 * dot-unstuffed, CRLF kept. Buffered, so meant for headers, not whole bodies.
 *
 * @example
 * ```ts
 * const header = (await top(reader, 1, 0)).toString("latin1");
 * ```
 */
export async function top(reader: Pop3ResponseReader, number: number, lines: number): Promise<Buffer> {
  if (!Number.isSafeInteger(lines) || lines < 0) throw new RangeError(`TOP needs a non-negative line count, got ${lines}`);
  await runCommand(reader, `TOP ${messageNumber(number)} ${lines}`);
  const body = new DotBodyReader(reader.connection);
  const parts: Buffer[] = [];
  for await (const chunk of body.stream) parts.push(chunk as Buffer);
  await body.done;
  return Buffer.concat(parts);
}
