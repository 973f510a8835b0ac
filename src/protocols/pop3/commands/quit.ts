import { runCommand } from "../pop3-command.js";
import type { Pop3ResponseReader } from "../pop3-response-reader.js";

/**
 * QUIT (RFC 1939 §6): enter the UPDATE state, where the server removes the
 * messages marked deleted, then close. Deletions count only after `+OK`;
 * a `-ERR` (some deletions failed) is thrown. The connection is closed
 * either way.
 *
 * @example
 * ```ts
 * await dele(reader, [1], { window: 1 });
 * await quit(reader); // message 1 is gone now
 * ```
 */
export async function quit(reader: Pop3ResponseReader): Promise<void> {
  try {
    await runCommand(reader, "QUIT");
  } finally {
    reader.connection.close(true);
  }
}
