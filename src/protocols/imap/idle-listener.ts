import { ImapFlow } from "imapflow";
import { InboundError } from "../../core/inbound-error.js";
import { withDeadline } from "../../core/with-deadline.js";
import type { ServerConnectionOptions } from "../server-connection-options.js";
import { imapFlowOptions } from "./imap-client-options.js";
import { classifyImapError } from "./imap-error.js";

/** How to reach the server and which folder to watch. */
export interface IdleListenerOptions extends ServerConnectionOptions {
  /** Folder to watch. */
  folder: string;
  /**
   * IDLE is ended and re-issued after this long. RFC 2177 lets servers drop
   * an IDLE after 30 minutes, so the default is 25 minutes.
   */
  maxIdleMs?: number;
}

/** New mail in the watched folder: the server's EXISTS grew from `prevCount` to `count`. */
export interface NewMailData {
  folder: string;
  count: number;
  prevCount: number;
}

/**
 * An open IMAP connection sitting in IDLE on one folder. It reports new mail
 * and the end of the connection; it never fetches anything itself.
 * `close()` ends it (safe to call twice).
 */
export interface IdleListener {
  /** False when the server does not offer IDLE; the caller polls instead (and may close this listener). */
  readonly idleSupported: boolean;
  readonly folder: string;
  /** Messages in the folder when it was selected. */
  readonly exists: number;
  /** Called on every EXISTS that grows the folder. Returns an unsubscribe function. */
  onNewMail(listener: (data: NewMailData) => void): () => void;
  /**
   * Called once when the connection ends for any reason other than `close()`,
   * with the catalogued reason (retryable for network failures).
   */
  onClose(listener: (reason: InboundError) => void): () => void;
  /**
   * Prove the connection is alive: break IDLE, send NOOP, resume IDLE.
   * Throws (and closes the listener) when the server does not answer within the timeout;
   * IDLE connections die silently behind NAT boxes and load balancers.
   */
  check(): Promise<void>;
  close(): Promise<void>;
}

const DEFAULT_MAX_IDLE_MS = 25 * 60_000;

function withTimeout<T>(work: Promise<T>, ms: number, onTimeout: () => InboundError, signal?: AbortSignal): Promise<T> {
  return withDeadline(work, { ms, onTimeout, signal, what: "Opening the IDLE connection" });
}

/**
 * Connect, sign in, select `folder` and sit in IDLE, re-issued
 * every `maxIdleMs` (RFC 2177). Throws the catalogued error when it cannot
 * (IMAP_AUTH_FAILED is not retryable; CONNECTION_* are).
 *
 * @example
 * ```ts
 * const listener = await openIdleListener({ host, port: 993, security: "tls", tlsVerify: true, username, password, folder: "INBOX", timeoutMs: 30_000 });
 * try {
 *   listener.onNewMail(() => void fetchNewMail());
 *   listener.onClose((reason) => console.log("connection lost:", reason.code));
 * } finally {
 *   // later
 *   await listener.close();
 * }
 * ```
 */
export async function openIdleListener(options: IdleListenerOptions): Promise<IdleListener> {
  if (options.signal?.aborted) throw new InboundError("ABORTED", { message: "Opening the IDLE connection was cancelled." });
  const client = new ImapFlow(imapFlowOptions(options, { maxIdleTime: options.maxIdleMs ?? DEFAULT_MAX_IDLE_MS }));
  const newMail = new Set<(data: NewMailData) => void>();
  const closed = new Set<(reason: InboundError) => void>();
  let lastError: unknown;
  let closing = false;
  let ended = false;
  client.on("error", (error: unknown) => {
    lastError = error;
  });
  const timeoutError = (command: string) => () => {
    client.close();
    return new InboundError("CONNECTION_TIMEOUT", {
      message: `${options.host}:${options.port} did not finish ${command} within ${options.timeoutMs} ms.`,
      retryable: true,
      details: { command, timeoutMs: options.timeoutMs },
    });
  };

  let exists: number;
  try {
    await withTimeout(client.connect(), options.timeoutMs * 2, timeoutError("connect"), options.signal);
  } catch (error) {
    client.close();
    throw classifyImapError(error, options, "connect");
  }
  try {
    // SELECT, not EXAMINE: Dovecot told a read-only session of new mail ~200 ms later than a
    // read-write one (bench/idle-latency.ts). Nothing is changed through this connection.
    const mailbox = await withTimeout(client.mailboxOpen(options.folder, { readOnly: false }), options.timeoutMs, timeoutError("SELECT"), options.signal);
    exists = mailbox.exists;
  } catch (error) {
    client.close();
    throw classifyImapError(error, options, "SELECT");
  }
  const idleSupported = client.capabilities.has("IDLE");

  const end = (reason: InboundError) => {
    if (ended) return;
    ended = true;
    if (closing) return;
    for (const listener of [...closed]) listener(reason);
  };
  client.on("exists", (data: { path: string; count: number; prevCount: number }) => {
    if (data.count <= data.prevCount || ended) return;
    for (const listener of [...newMail]) listener({ folder: data.path, count: data.count, prevCount: data.prevCount });
  });
  client.on("close", () => {
    const reason = lastError === undefined
      ? new InboundError("CONNECTION_CLOSED", { message: `${options.host}:${options.port} closed the IDLE connection.`, retryable: true, details: { host: options.host, port: options.port } })
      : classifyImapError(lastError, options, "IDLE");
    end(reason.retryable ? reason : new InboundError("CONNECTION_CLOSED", { message: reason.message, cause: reason, retryable: true }));
  });

  // imapflow's idle() returns when IDLE is broken for another command (check())
  // or the connection ends; it restarts itself after maxIdleTime. Re-enter it
  // until the listener is closed.
  let idleLoop: Promise<void> = Promise.resolve();
  let paused = false;
  const runIdle = () => {
    if (!idleSupported) return;
    idleLoop = (async () => {
      while (!ended && !closing && !paused && client.usable) {
        await client.idle().catch(() => undefined);
        // Yield so a command that broke IDLE gets queued before IDLE is re-issued.
        await new Promise((r) => setImmediate(r));
      }
    })();
  };
  runIdle();

  return {
    idleSupported,
    folder: options.folder,
    exists,
    onNewMail(listener) {
      newMail.add(listener);
      return () => newMail.delete(listener);
    },
    onClose(listener) {
      closed.add(listener);
      return () => closed.delete(listener);
    },
    async check() {
      if (ended || closing) throw new InboundError("CONNECTION_CLOSED", { message: "The IDLE connection is closed.", retryable: true });
      paused = true;
      try {
        await withTimeout(client.noop(), options.timeoutMs, timeoutError("NOOP"));
      } catch (error) {
        client.close();
        throw classifyImapError(error, options, "NOOP");
      } finally {
        paused = false;
      }
      await idleLoop;
      runIdle();
    },
    async close() {
      if (closing) return;
      closing = true;
      if (client.usable) {
        await Promise.race([client.logout().catch(() => undefined), new Promise((r) => setTimeout(r, 2_000).unref())]);
      }
      client.close();
      ended = true;
      await idleLoop;
    },
  };
}
