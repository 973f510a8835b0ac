import type { Readable } from "node:stream";
import { DotBodyReader } from "../dot-body-reader.js";
import { messageNumber, replyError } from "../pop3-command.js";
import type { Pop3ResponseReader } from "../pop3-response-reader.js";

/** Receives one message; must finish with the stream before resolving. */
export type OnMessage = (number: number, body: Readable) => Promise<void>;

/** Options for {@link retr}. */
export interface RetrOptions {
  /**
   * RETR commands in flight at once. With PIPELINING (RFC 2449 §6.6) several
   * replies queue in the server's socket, not in our memory: bytes are pulled
   * only as the current body is consumed. 1 without PIPELINING.
   */
  window: number;
}

/**
 * RETR each message in order and hand its body to `onMessage` as a stream:
 * dot-unstuffed, terminator removed, CRLF kept, never buffered whole. The
 * next body is delivered only after `onMessage` resolved; bytes it left
 * unread are skipped so the session stays in sync.
 *
 * Failures: a connection failure errors the body stream and rejects with
 * CONNECTION_CLOSED / CONNECTION_TIMEOUT / ABORTED. A `-ERR` reply or an
 * `onMessage` rejection first reads the replies already requested, then
 * rejects — the session stays usable (e.g. for QUIT after earlier DELEs).
 *
 * @example
 * ```ts
 * await retr(reader, [1, 2], { window: 16 }, async (n, body) => {
 *   await pipeline(body, createWriteStream(`${n}.eml`));
 * });
 * ```
 */
export async function retr(reader: Pop3ResponseReader, numbers: number[], options: RetrOptions, onMessage: OnMessage): Promise<void> {
  const { connection } = reader;
  const lines = numbers.map((n) => `RETR ${messageNumber(n)}\r\n`);
  const window = Math.max(1, options.window);
  let sent = 0;
  let received = 0;
  const sendMore = () => {
    const end = Math.min(lines.length, received + window);
    if (end > sent) {
      connection.write(lines.slice(sent, end).join(""), "RETR");
      sent = end;
    }
  };

  // Skip the replies already requested so the next command reads its own reply.
  const skipInFlight = async () => {
    for (; received < sent; received++) {
      const status = await reader.readStatus();
      if (status.kind === "ok") await new DotBodyReader(connection).drain();
    }
  };

  for (; received < lines.length; received++) {
    sendMore();
    const status = await reader.readStatus();
    if (status.kind !== "ok") {
      const refused = numbers[received];
      received++;
      await skipInFlight();
      if (status.kind === "continue") throw reader.protocolError("answered RETR with a SASL continuation");
      throw replyError(reader, "RETR", status, "POP3_COMMAND_FAILED", `The POP3 server at ${connection.host}:${connection.port} refused RETR ${refused}`);
    }
    const body = new DotBodyReader(connection);
    try {
      await onMessage(numbers[received], body.stream);
    } catch (error) {
      // A broken connection is the real story; the handler only saw its symptom.
      if (connection.error) throw connection.error;
      await body.drain();
      received++;
      await skipInFlight();
      throw error;
    }
    await body.drain();
  }
}

