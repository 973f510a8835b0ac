import { messageNumber, replyError } from "../pop3-command.js";
import type { Pop3ResponseReader } from "../pop3-response-reader.js";
import type { Pop3StatusLine } from "../pop3-status-line.js";

/** Options for {@link dele}. */
export interface DeleOptions {
  /** Commands in flight at once; 1 without PIPELINING (RFC 2449 §6.6). */
  window: number;
}

/**
 * DELE each message (RFC 1939 §5), pipelined up to `window` commands ahead.
 * Deletions take effect only at a successful QUIT. Every reply is read even
 * when one is `-ERR`, so the session stays in sync; then the first refusal
 * is thrown, listing every refused number in `details.refused`.
 *
 * @example
 * ```ts
 * await dele(reader, [1, 2, 3], { window: 64 });
 * ```
 */
export async function dele(reader: Pop3ResponseReader, numbers: number[], options: DeleOptions): Promise<void> {
  const lines = numbers.map((n) => `DELE ${messageNumber(n)}\r\n`);
  const refused: Array<{ number: number; status: Pop3StatusLine }> = [];
  let sent = 0;
  for (let received = 0; received < lines.length; received++) {
    if (sent === received) {
      const batch = lines.slice(sent, sent + Math.max(1, options.window));
      reader.connection.write(batch.join(""), "DELE");
      sent += batch.length;
    }
    const status = await reader.readStatus();
    if (status.kind === "continue") throw reader.protocolError("answered DELE with a SASL continuation");
    if (status.kind === "err") refused.push({ number: numbers[received], status });
  }
  if (refused.length > 0) {
    const first = refused[0];
    const error = replyError(reader, "DELE", first.status);
    Object.assign(error.details, { refused: refused.map((r) => ({ number: r.number, responseCode: r.status.responseCode, serverText: r.status.text })) });
    throw error;
  }
}
