import { InboundError } from "../../core/inbound-error.js";
import type { Pop3Connection } from "./pop3-connection.js";
import { parsePop3StatusLine, type Pop3StatusLine } from "./pop3-status-line.js";

const LF = 0x0a;

/** Default limit for status lines and the lines of CAPA, LIST and UIDL replies. */
export const DEFAULT_MAX_LINE_LENGTH = 64 * 1024;

/**
 * Reads line-oriented replies (status lines, CAPA/LIST/UIDL listings) with a
 * hard length limit, because those lines are buffered whole. Message bodies
 * are not read here: see {@link DotBodyReader}, which streams them unlimited.
 *
 * @example
 * ```ts
 * const reader = new Pop3ResponseReader(connection, 64 * 1024);
 * const status = await reader.readStatus();
 * if (status.kind === "ok") console.log(await reader.readLines());
 * ```
 */
export class Pop3ResponseReader {
  constructor(
    readonly connection: Pop3Connection,
    readonly maxLineLength: number = DEFAULT_MAX_LINE_LENGTH,
  ) {}

  /** One line without its line ending, as latin1 so every byte survives. */
  async readLine(): Promise<string> {
    const parts: Buffer[] = [];
    let length = 0;
    for (;;) {
      const chunk = await this.connection.pull();
      const lf = chunk.indexOf(LF);
      const end = lf === -1 ? chunk.length : lf + 1;
      length += end;
      // +2 leaves room for the CRLF that is not part of the line's length.
      if (length > this.maxLineLength + 2) throw this.limitExceeded();
      parts.push(lf === -1 ? chunk : chunk.subarray(0, end));
      if (lf === -1) continue;
      this.connection.unshift(chunk.subarray(end));
      const line = (parts.length === 1 ? parts[0] : Buffer.concat(parts)).toString("latin1");
      return line.endsWith("\r\n") ? line.slice(0, -2) : line.slice(0, -1);
    }
  }

  /** The next status line, parsed; a line that is not one breaks the connection. */
  async readStatus(): Promise<Pop3StatusLine> {
    const line = await this.readLine();
    try {
      return parsePop3StatusLine(line);
    } catch (error) {
      throw this.connection.fail(error as InboundError);
    }
  }

  /** The lines of a multiline reply up to the terminating `.`, dot-unstuffed. */
  async readLines(): Promise<string[]> {
    const lines: string[] = [];
    for (;;) {
      const line = await this.readLine();
      if (line === ".") return lines;
      lines.push(line.startsWith(".") ? line.slice(1) : line);
    }
  }

  /** Break the connection with POP3_PROTOCOL_ERROR: a reply we cannot stay in sync after. */
  protocolError(message: string, details: Record<string, unknown> = {}): InboundError {
    return this.connection.fail(new InboundError("POP3_PROTOCOL_ERROR", {
      message: `The POP3 server at ${this.connection.host}:${this.connection.port} ${message}`,
      retryable: true,
      details: { host: this.connection.host, port: this.connection.port, ...details },
    }));
  }

  private limitExceeded(): InboundError {
    return this.connection.fail(new InboundError("PROTOCOL_LIMIT_EXCEEDED", {
      message: `The POP3 server at ${this.connection.host}:${this.connection.port} sent a reply line longer than ${this.maxLineLength} bytes; raise maxLineLength if the server is trusted.`,
      details: { host: this.connection.host, port: this.connection.port, maxLineLength: this.maxLineLength },
    }));
  }
}
