import type { Readable } from "node:stream";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { InboundError } from "../../core/inbound-error.js";
import { classifyConnectionError } from "../connection-error.js";
import type { ServerConnectionOptions } from "../server-connection-options.js";
import { authenticate } from "./commands/authenticate.js";
import type { RetrData } from "./commands/retr.js";
import { capa } from "./commands/capa.js";
import { stls } from "./commands/stls.js";
import { createPop3Session } from "./pop3-session.js";
import { Pop3Connection, tlsFailed, tlsSocketOptions } from "./pop3-connection.js";
import { replyError } from "./pop3-command.js";
import { DEFAULT_MAX_LINE_LENGTH, Pop3ResponseReader } from "./pop3-response-reader.js";

/** How to reach and log in to a POP3 mailbox. */
export interface Pop3ConnectOptions extends ServerConnectionOptions {
  /** Longest status or listing line accepted; message bodies are not limited. Default 64 KiB. */
  maxLineLength?: number;
}

/**
 * An authenticated POP3 session (TRANSACTION state). Commands run one at a
 * time in call order; do not call the client from inside `retrieve`'s
 * `onMessage` (it would wait for itself). Always end with `quit()` (commit
 * deletions) or `close()` (roll them back), e.g. in `finally`.
 *
 * @example
 * ```ts
 * const client = await connectPop3(options);
 * try {
 *   const ids = await client.uidl();
 *   const { refused } = await client.retrieve(ids.map((e) => e.number), async (n, body) => {
 *     await pipeline(body, createWriteStream(`${n}.eml`));
 *   });
 *   for (const r of refused) console.warn(`message ${r.number} refused: ${r.serverText}`);
 *   await client.quit();
 * } finally {
 *   client.close();
 * }
 * ```
 */
export interface Pop3Client {
  /** CAPA after login: tag → arguments (`SASL → ["PLAIN"]`). */
  readonly capabilities: ReadonlyMap<string, string[]>;
  stat(): Promise<{ count: number; size: number }>;
  list(): Promise<Array<{ number: number; size: number }>>;
  /** Unique ids; a server without UIDL fails with POP3_UIDL_UNSUPPORTED. */
  uidl(): Promise<Array<{ number: number; uidl: string }>>;
  /**
   * Stream each message to `onMessage`, one after another (dot-unstuffed,
   * terminator removed, CRLF kept). Pipelined when the server has PIPELINING.
   * A message the server answers with `-ERR` is skipped, not fatal: it is
   * listed in `refused` (with the server's response code and text) and the
   * others are still delivered. A broken connection or a rejecting
   * `onMessage` rejects the whole call.
   *
   * @example
   * ```ts
   * const { refused } = await client.retrieve([1, 2, 3], async (n, body) => {
   *   await pipeline(body, createWriteStream(`${n}.eml`));
   * });
   * // refused: [{ number: 2, responseCode: "SYS/PERM", serverText: "message unavailable" }]
   * ```
   */
  retrieve(numbers: number[], onMessage: (number: number, body: Readable) => Promise<void>): Promise<RetrData>;
  /** Header plus the first `lines` body lines, buffered. */
  top(number: number, lines: number): Promise<Buffer>;
  /** Mark messages deleted; they go only at a successful {@link quit}. */
  dele(numbers: number[]): Promise<void>;
  noop(): Promise<void>;
  rset(): Promise<void>;
  /** Enter UPDATE: deletions take effect, then the connection closes. */
  quit(): Promise<void>;
  /** Drop the connection without QUIT: the server rolls back deletions. Safe to call twice. */
  close(): void;
}


/**
 * Connect, read the greeting, CAPA, STLS when `security` is `starttls`
 * (required: STARTTLS_UNSUPPORTED if the server does not offer it), CAPA
 * again, then log in with SASL PLAIN if offered, else USER/PASS, and CAPA
 * once more for the authenticated state.
 *
 * Errors: CONNECTION_FAILED (refused, DNS), CONNECTION_TIMEOUT,
 * TLS_CERT_UNTRUSTED, TLS_FAILED, STARTTLS_UNSUPPORTED, POP3_AUTH_FAILED,
 * CONNECTION_CLOSED, ABORTED. None carries the password.
 *
 * @example
 * ```ts
 * const client = await connectPop3({
 *   host: "mail.example.com", port: 995, security: "tls", tlsVerify: true,
 *   username: "support", password, timeoutMs: 30_000,
 * });
 * try { console.log(await client.stat()); await client.quit(); } finally { client.close(); }
 * ```
 */
export async function connectPop3(options: Pop3ConnectOptions): Promise<Pop3Client> {
  checkCredentials(options);
  const socket = await openSocket(options);
  const connection = new Pop3Connection(socket, { host: options.host, port: options.port, timeoutMs: options.timeoutMs, signal: options.signal });
  const reader = new Pop3ResponseReader(connection, options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH);
  try {
    const greeting = await reader.readStatus();
    if (greeting.kind !== "ok") {
      throw replyError(reader, "greeting", greeting, "CONNECTION_FAILED", `The POP3 server at ${options.host}:${options.port} refused the connection`);
    }
    let capabilities = await capa(reader);
    if (options.security === "starttls") {
      await stls(reader, capabilities, options);
      capabilities = await capa(reader);
    }
    await authenticate(reader, capabilities, options);
    const afterLogin = await capa(reader);
    return createPop3Session(reader, afterLogin.size > 0 ? afterLogin : capabilities);
  } catch (error) {
    connection.close();
    throw error;
  }
}

function checkCredentials({ username, password }: Pop3ConnectOptions): void {
  // A line break would end the command early and inject another one.
  const bad = [username && /[\r\n\0]/.test(username) ? "username" : null, /[\r\n\0]/.test(password) ? "password" : null].filter(Boolean);
  if (bad.length > 0) {
    throw new InboundError("CONFIG_INVALID", {
      message: `Invalid account settings: ${bad.join(", ")} must not contain line breaks or NUL`,
      details: { fields: bad.map((field) => ({ field, message: "must not contain line breaks or NUL" })) },
    });
  }
}

/** TCP (and for `tls` the handshake) within timeoutMs, cancellable by the signal. */
function openSocket(options: Pop3ConnectOptions): Promise<Socket> {
  const where = `${options.host}:${options.port}`;
  const endpoint = { host: options.host, port: options.port };
  return new Promise<Socket>((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(abortedError(where, options.signal));
      return;
    }
    const implicitTls = options.security === "tls";
    const socket: Socket = implicitTls
      ? tlsConnect({ host: options.host, port: options.port, ...tlsSocketOptions(options.host, options) })
      : netConnect({ host: options.host, port: options.port });
    let settled = false;
    const settle = (error: InboundError | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      // onError stays attached (a no-op now) until Pop3Connection adds its own, so no error is ever unheard.
      if (error) {
        socket.destroy();
        reject(error);
      } else {
        resolve(socket);
      }
    };
    const onError = (error: Error) => {
      const classified = classifyConnectionError(error, endpoint);
      settle(classified ?? (implicitTls ? tlsFailed(error, where) : new InboundError("CONNECTION_FAILED", {
        message: `Could not connect to ${where}: ${error.message}`,
        cause: error,
        retryable: true,
        details: endpoint,
      })));
    };
    const onAbort = () => settle(abortedError(where, options.signal));
    const timer = setTimeout(() => settle(new InboundError("CONNECTION_TIMEOUT", {
      message: `Connecting to the POP3 server at ${where} took longer than ${options.timeoutMs} ms; check the host and port, or raise the timeout.`,
      retryable: true,
      details: { ...endpoint, timeoutMs: options.timeoutMs },
    })), options.timeoutMs);
    socket.on("error", onError);
    socket.once(implicitTls ? "secureConnect" : "connect", () => settle(null));
    options.signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function abortedError(where: string, signal: AbortSignal | undefined): InboundError {
  return new InboundError("ABORTED", { message: `Connecting to the POP3 server at ${where} was cancelled.`, cause: signal?.reason });
}
