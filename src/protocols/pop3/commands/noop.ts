import { runCommand } from "../pop3-command.js";
import type { Pop3ResponseReader } from "../pop3-response-reader.js";

/**
 * NOOP (RFC 1939 §5): proves the session is alive.
 *
 * @example
 * ```ts
 * await noop(reader);
 * ```
 */
export async function noop(reader: Pop3ResponseReader): Promise<void> {
  await runCommand(reader, "NOOP");
}
