import type { Readable } from "node:stream";
import { DotBodyReader } from "../dot-body-reader.js";
import { messageNumber } from "../pop3-command.js";
import type { Pop3ResponseReader } from "../pop3-response-reader.js";

/** Receives one message; must finish with the stream before resolving. */
export type OnMessage = (number: number, body: Readable) => Promise<void>;

/** A message the server would not hand over: its number and what the server said. */
export interface RetrRefusal {
  number: number;
  /** The RFC 2449 response code without brackets (`SYS/PERM`, `SYS/TEMP`), or null. */
  responseCode: string | null;
  /** The server's human text after `-ERR` and the response code. */
  serverText: string;
}

/** What {@link retr} did besides delivering bodies. */
export interface RetrData {
  /** Messages answered with `-ERR`, in request order; `onMessage` never saw them. */
  refused: RetrRefusal[];
}

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
 * A `-ERR` reply refuses only its own message: it is listed in the result's
 * `refused` and the others are still delivered, so one message the server
 * cannot read does not hold back the rest. With pipelining the reply after
 * a refusal belongs to the next RETR.
 *
 * Failures: a connection failure errors the body stream and rejects with
 * CONNECTION_CLOSED / CONNECTION_TIMEOUT / ABORTED. An `onMessage`
 * rejection first reads the replies already requested, then rejects — the
 * session stays usable (e.g. for QUIT after earlier DELEs).
 *
 * @example
 * ```ts
 * const { refused } = await retr(reader, [1, 2], { window: 16 }, async (n, body) => {
 *   await pipeline(body, createWriteStream(`${n}.eml`));
 * });
 * for (const r of refused) console.warn(`RETR ${r.number}: ${r.serverText}`);
 * ```
 */
export async function retr(reader: Pop3ResponseReader, numbers: number[], options: RetrOptions, onMessage: OnMessage): Promise<RetrData> {
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

  const refused: RetrRefusal[] = [];
  for (; received < lines.length; received++) {
    sendMore();
    const status = await reader.readStatus();
    if (status.kind === "continue") {
      received++;
      await skipInFlight();
      throw reader.protocolError("answered RETR with a SASL continuation");
    }
    if (status.kind === "err") {
      // No body follows a -ERR: the next reply is the next RETR's.
      refused.push({ number: numbers[received], responseCode: status.responseCode, serverText: status.text });
      continue;
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
  return { refused };
}

