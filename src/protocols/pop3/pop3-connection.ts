import type { Socket } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { isIP } from "node:net";
import { InboundError } from "../../core/inbound-error.js";
import { classifyConnectionError } from "../connection-error.js";

/** Where and how the connection was made; used in error messages and for STLS. */
export interface Pop3ConnectionOptions {
  host: string;
  port: number;
  /** Longest idle wait for server bytes, in ms, before CONNECTION_TIMEOUT. */
  timeoutMs: number;
  signal?: AbortSignal;
}

/** TLS settings for an upgrade with STLS or an implicit-TLS connect. */
export interface Pop3TlsOptions {
  tlsVerify: boolean;
  tlsCa?: string | null;
}

type Waiter = { resolve: () => void; reject: (error: InboundError) => void };

/**
 * The byte transport under a POP3 session: one socket read in paused mode,
 * so bytes leave the kernel only when a reader pulls them (TCP backpressure
 * bounds memory), an inactivity timer that runs only while waiting for the
 * server, AbortSignal handling, and one sticky failure: after the first
 * error every pull and write throws that same error.
 *
 * @example
 * ```ts
 * const connection = new Pop3Connection(socket, { host, port, timeoutMs: 30_000 });
 * connection.write("NOOP\r\n", "NOOP");
 * const bytes = await connection.pull();
 * ```
 */
export class Pop3Connection {
  readonly host: string;
  readonly port: number;
  private socket: Socket;
  private readonly timeoutMs: number;
  private readonly signal: AbortSignal | undefined;
  private leftover: Buffer | null = null;
  private ended = false;
  private failure: InboundError | null = null;
  private waiter: Waiter | null = null;
  private lastCommand = "the greeting";

  constructor(socket: Socket, options: Pop3ConnectionOptions) {
    this.socket = socket;
    this.host = options.host;
    this.port = options.port;
    this.timeoutMs = options.timeoutMs;
    this.signal = options.signal;
    this.attach(socket);
    this.signal?.addEventListener("abort", this.onAbort, { once: true });
    if (this.signal?.aborted) this.onAbort();
  }

  /** The sticky failure, if the connection is broken or closed. */
  get error(): InboundError | null {
    return this.failure;
  }

  /** True when the socket is encrypted (implicit TLS or after STLS). */
  get encrypted(): boolean {
    return (this.socket as Partial<TLSSocket>).encrypted === true;
  }

  /**
   * Send a command line. `label` is what error messages call it — the verb
   * only, so a password never reaches a message.
   */
  write(line: string, label: string): void {
    if (this.failure) throw this.failure;
    this.lastCommand = label;
    this.socket.write(line);
  }

  /** The next bytes from the server; waits at most `timeoutMs` of silence. */
  async pull(): Promise<Buffer> {
    for (;;) {
      if (this.failure) throw this.failure;
      if (this.leftover) {
        const bytes = this.leftover;
        this.leftover = null;
        return bytes;
      }
      const chunk = this.socket.read() as Buffer | null;
      if (chunk !== null && chunk.length > 0) return chunk;
      if (this.ended) {
        this.fail(this.closedError());
        continue;
      }
      await this.waitForBytes();
    }
  }

  /** Give back bytes a reader pulled but does not own (the start of the next reply). */
  unshift(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.leftover = this.leftover ? Buffer.concat([bytes, this.leftover]) : bytes;
  }

  /**
   * Break the connection with `error`: the socket is destroyed and every
   * waiting or later operation rejects with it. The first failure wins.
   */
  fail(error: InboundError): InboundError {
    if (this.failure) return this.failure;
    this.failure = error;
    this.signal?.removeEventListener("abort", this.onAbort);
    this.socket.destroy();
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.reject(error);
    return error;
  }

  /** End the session politely (after QUIT) or abruptly; later use throws CONNECTION_CLOSED. */
  close(graceful = false): void {
    if (graceful && !this.failure) this.socket.end();
    this.fail(new InboundError("CONNECTION_CLOSED", {
      message: `The POP3 session with ${this.where} is closed.`,
      details: { host: this.host, port: this.port },
    }));
  }

  /**
   * Switch to TLS after a successful STLS (RFC 2595 §4). Bytes that arrived
   * before the handshake would be plaintext injected into the secure session,
   * so they are refused.
   */
  async upgradeToTls(tls: Pop3TlsOptions): Promise<void> {
    if (this.failure) throw this.failure;
    const raw = this.socket;
    if (this.leftover || raw.readableLength > 0) {
      throw this.fail(new InboundError("POP3_PROTOCOL_ERROR", {
        message: `The POP3 server at ${this.where} sent data after its STLS reply, before TLS started; refusing it as possible injection.`,
        details: { host: this.host, port: this.port },
      }));
    }
    this.detach(raw);
    this.lastCommand = "the TLS handshake";
    const secure = tlsConnect({ socket: raw, ...tlsSocketOptions(this.host, tls) });
    this.socket = secure;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(this.fail(this.timeoutError())), this.timeoutMs);
      const onError = (error: Error) => {
        clearTimeout(timer);
        reject(this.fail(classifyConnectionError(error, this) ?? tlsFailed(error, this.where)));
      };
      secure.once("error", onError);
      secure.once("secureConnect", () => {
        clearTimeout(timer);
        // Swap listeners in the same tick, so no later socket error goes unheard.
        secure.removeListener("error", onError);
        this.waiter = null;
        this.attach(secure);
        resolve();
      });
      // An abort or other failure while handshaking destroys the socket; surface it.
      this.waiter = { resolve: () => undefined, reject: (error) => { clearTimeout(timer); reject(error); } };
    });
  }

  private get where(): string {
    return `${this.host}:${this.port}`;
  }

  private attach(socket: Socket): void {
    socket.on("readable", this.onReadable);
    socket.on("end", this.onEnd);
    socket.on("error", this.onError);
    socket.on("close", this.onClose);
  }

  private detach(socket: Socket): void {
    socket.removeListener("readable", this.onReadable);
    socket.removeListener("end", this.onEnd);
    socket.removeListener("error", this.onError);
    socket.removeListener("close", this.onClose);
  }

  private waitForBytes(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(this.timeoutError()), this.timeoutMs);
      this.waiter = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
    });
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.resolve();
  }

  private readonly onReadable = () => this.wake();

  private readonly onEnd = () => {
    this.ended = true;
    this.wake();
  };

  private readonly onError = (error: Error) => {
    this.fail(classifyConnectionError(error, this) ?? new InboundError("CONNECTION_CLOSED", {
      message: `The connection to ${this.where} failed: ${error.message}`,
      cause: error,
      retryable: true,
      details: { host: this.host, port: this.port },
    }));
  };

  private readonly onClose = () => {
    if (!this.ended) this.fail(this.closedError());
    else this.wake();
  };

  private readonly onAbort = () => {
    this.fail(new InboundError("ABORTED", {
      message: `The POP3 session with ${this.where} was cancelled.`,
      cause: this.signal?.reason,
      details: { host: this.host, port: this.port },
    }));
  };

  private closedError(): InboundError {
    return new InboundError("CONNECTION_CLOSED", {
      message: `The POP3 server at ${this.where} closed the connection while Inbound waited for the reply to ${this.lastCommand}.`,
      retryable: true,
      details: { host: this.host, port: this.port, command: this.lastCommand },
    });
  }

  private timeoutError(): InboundError {
    return new InboundError("CONNECTION_TIMEOUT", {
      message: `The POP3 server at ${this.where} sent nothing for ${this.timeoutMs} ms while Inbound waited for the reply to ${this.lastCommand}; check the server or raise the timeout.`,
      retryable: true,
      details: { host: this.host, port: this.port, command: this.lastCommand, timeoutMs: this.timeoutMs },
    });
  }
}

/** Node TLS options from account settings: CA, verification, SNI for names only. */
export function tlsSocketOptions(host: string, tls: Pop3TlsOptions): { rejectUnauthorized: boolean; ca?: string; servername?: string } {
  return {
    rejectUnauthorized: tls.tlsVerify,
    ...(tls.tlsCa ? { ca: tls.tlsCa } : {}),
    // SNI must not carry an IP address (RFC 6066 §3).
    ...(isIP(host) === 0 ? { servername: host } : {}),
  };
}

/** TLS_FAILED for a handshake error that is neither a network nor a certificate problem. */
export function tlsFailed(error: Error, where: string): InboundError {
  return new InboundError("TLS_FAILED", {
    message: `The TLS handshake with ${where} failed (${error.message}); check the port and the security setting (tls on 995, starttls on 110).`,
    cause: error,
  });
}
