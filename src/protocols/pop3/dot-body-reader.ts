import { Readable } from "node:stream";
import type { Pop3Connection } from "./pop3-connection.js";
import { DotStuffedDecoder } from "./dot-stuffed-decoder.js";

/**
 * Streams the body of one multiline reply (RETR, TOP) from the connection as
 * a Readable: dot-unstuffed, terminator removed, CRLF kept. Bytes are pulled
 * from the socket only when the stream wants more, so a slow consumer slows
 * the server (TCP backpressure) instead of filling memory. Lines have no
 * length limit here. If the connection fails before the terminator, the
 * stream errors with that failure — a body is never silently cut short.
 *
 * @example
 * ```ts
 * const reader = new DotBodyReader(connection);
 * await pipeline(reader.stream, createWriteStream("message.eml"));
 * await reader.done;
 * ```
 */
export class DotBodyReader {
  readonly stream: Readable;
  /** Settles when the terminator has been read (or the connection failed). */
  readonly done: Promise<void>;
  private readonly decoder = new DotStuffedDecoder();
  private finished = false;
  private pumping = false;
  private discarding = false;
  private resolveDone!: () => void;
  private rejectDone!: (error: unknown) => void;

  constructor(private readonly connection: Pop3Connection) {
    this.done = new Promise<void>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    // Callers may await `done` late or not at all; the failure also reaches them through the stream.
    this.done.catch(() => undefined);
    this.stream = new Readable({
      read: () => void this.pump(),
      destroy: (error, callback) => callback(error),
    });
  }

  /**
   * Read and throw away whatever the consumer left unread, so the next reply
   * can be read. Resolves at the terminator.
   */
  drain(): Promise<void> {
    this.discarding = true;
    if (!this.stream.destroyed) this.stream.destroy();
    void this.pump();
    return this.done;
  }

  private async pump(): Promise<void> {
    if (this.pumping || this.finished) return;
    this.pumping = true;
    try {
      while (!this.finished) {
        const chunk = await this.connection.pull();
        const { data, done, rest } = this.decoder.decode(chunk);
        if (rest) this.connection.unshift(rest);
        const delivering = !this.discarding && !this.stream.destroyed;
        let wantsMore = true;
        if (delivering) for (const piece of data) wantsMore = this.stream.push(piece) && wantsMore;
        if (done) {
          this.finished = true;
          if (delivering) this.stream.push(null);
          this.resolveDone();
          return;
        }
        // Stop until the consumer asks again; a destroyed stream only continues through drain().
        if (!this.discarding && (!wantsMore || this.stream.destroyed)) return;
      }
    } catch (error) {
      this.finished = true;
      this.stream.destroy(error as Error);
      this.rejectDone(error);
    } finally {
      this.pumping = false;
    }
  }
}
