const DOT = 0x2e;
const CR = 0x0d;
const LF = 0x0a;

/** What one {@link DotStuffedDecoder.decode} call produced. */
export interface DotStuffedChunk {
  /** Body bytes, unstuffed; slices of the input, not copies. */
  data: Buffer[];
  /** True once the terminating `.CRLF` line was seen. */
  done: boolean;
  /** Bytes after the terminator (the next pipelined reply); null when none. */
  rest: Buffer | null;
}

/**
 * Incremental decoder for the body of a POP3 multiline reply (RFC 1939 §3):
 * removes the byte-stuffed dot at the start of a line, stops at the
 * `CRLF.CRLF` terminator and keeps every other byte, CRLF included. It holds
 * at most two bytes between calls, so input can be split anywhere — between
 * CR and LF, before a line's leading dot, inside the terminator — and memory
 * never grows with the message.
 *
 * A line starts only after CRLF, as RFC 1939 has it. A bare LF inside a
 * message is content: a server that stuffs dots only after CRLF sends
 * `LF.CRLF` in a body unchanged, and taking that for the terminator would end
 * the message early and read the rest of it as the replies to the next
 * commands (SMTP smuggling's trick): forged messages stored under the next
 * UIDLs, and DELE answered by the message's own `+OK` lines.
 *
 * @example
 * ```ts
 * const decoder = new DotStuffedDecoder();
 * decoder.decode(Buffer.from("a\r\n..b\r\n.")); // data: "a\r\n", ".b\r\n"
 * decoder.decode(Buffer.from("\r\n+OK"));       // done, rest: "+OK"
 * ```
 */
export class DotStuffedDecoder {
  // The body starts right after the status line's CRLF: a line start.
  private atLineStart = true;
  // Whether the last byte of the previous input was CR: an LF first in this one then ends a line.
  private lastWasCr = false;
  private carry: Buffer | null = null;
  private finished = false;

  /** Feed the next bytes from the wire. Must not be called after `done`. */
  decode(input: Buffer): DotStuffedChunk {
    if (this.finished) throw new Error("DotStuffedDecoder: decode() after the terminator");
    const chunk = this.carry ? Buffer.concat([this.carry, input]) : input;
    this.carry = null;
    const data: Buffer[] = [];
    const emit = (from: number, to: number) => {
      if (to > from) data.push(chunk.subarray(from, to));
    };
    let segmentStart = 0;
    let pos = 0;
    while (pos < chunk.length) {
      if (this.atLineStart) {
        this.atLineStart = false;
        if (chunk[pos] === DOT) {
          // Need the next one or two bytes to tell ".CRLF" (end) from a stuffed line.
          if (pos + 1 >= chunk.length || (chunk[pos + 1] === CR && pos + 2 >= chunk.length)) {
            emit(segmentStart, pos);
            this.carry = Buffer.from(chunk.subarray(pos));
            this.atLineStart = true;
            return { data, done: false, rest: null };
          }
          if (chunk[pos + 1] === CR && chunk[pos + 2] === LF) {
            emit(segmentStart, pos);
            this.finished = true;
            const rest = pos + 3 < chunk.length ? chunk.subarray(pos + 3) : null;
            return { data, done: true, rest };
          }
          // RFC 1939: a line starting with the termination octet followed by
          // anything but CRLF has that first octet stripped away.
          emit(segmentStart, pos);
          segmentStart = pos + 1;
          pos += 1;
        }
      }
      const lf = chunk.indexOf(LF, pos);
      if (lf === -1) break;
      pos = lf + 1;
      this.atLineStart = lf > 0 ? chunk[lf - 1] === CR : this.lastWasCr;
    }
    if (chunk.length > 0) this.lastWasCr = chunk[chunk.length - 1] === CR;
    emit(segmentStart, chunk.length);
    return { data, done: false, rest: null };
  }
}
