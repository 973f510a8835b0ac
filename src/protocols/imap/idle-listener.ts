import { ImapFlow, type ImapFlowOptions } from "imapflow";
import type { Security } from "../../core/account-settings.js";
import { InboundError } from "../../core/inbound-error.js";
import { classifyConnectionError } from "../connection-error.js";

/** How to reach the server and which folder to watch. */
export interface IdleListenerOptions {
  host: string;
  port: number;
  security: Security;
  tlsVerify: boolean;
  tlsCa?: string | null;
  username: string;
  password: string;
  /** Folder to watch. */
  folder: string;
  /** Connect, greeting and per-command timeout, in ms. */
  timeoutMs: number;
  /**
   * IDLE is ended and re-issued after this long. RFC 2177 lets servers drop
   * an IDLE after 30 minutes, so the default is 25 minutes.
   */
  maxIdleMs?: number;
  signal?: AbortSignal;
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

function clientOptions(options: IdleListenerOptions): ImapFlowOptions {
  const { host, port, security, tlsVerify, tlsCa, username, password, timeoutMs } = options;
  const tls: Record<string, unknown> = { rejectUnauthorized: tlsVerify, minVersion: "TLSv1.2" };
  if (tlsCa) tls.ca = tlsCa;
  if (!/^[\d.:]+$/.test(host)) tls.servername = host;
  return {
    host,
    port,
    secure: security === "tls",
    doSTARTTLS: security === "starttls" ? true : security === "none" ? false : undefined,
    tls,
    auth: { user: username, pass: password },
    logger: false,
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: Math.max(timeoutMs * 4, 60_000),
    // IDLE is driven here, not by imapflow's auto-IDLE, so the listener knows when it is idling.
    disableAutoIdle: true,
    maxIdleTime: options.maxIdleMs ?? DEFAULT_MAX_IDLE_MS,
  } as ImapFlowOptions;
}

/** Server answers during connect/SELECT that mean "later", not "never". */
const TRANSIENT_RESPONSE_CODES = new Set(["UNAVAILABLE", "SERVERBUG", "LIMIT", "INUSE"]);

function classify(error: unknown, options: IdleListenerOptions, command: string): InboundError {
  if (error instanceof InboundError) return error;
  const endpoint = { host: options.host, port: options.port };
  const e = error as { authenticationFailed?: boolean; tlsFailed?: boolean; message?: string; responseText?: string; serverResponseCode?: string; code?: string };
  if (e?.authenticationFailed) {
    return new InboundError("IMAP_AUTH_FAILED", {
      message: `The IMAP server ${endpoint.host}:${endpoint.port} rejected the user name or password for "${options.username}"; check them (an app password may be needed).`,
      cause: error,
      details: { host: endpoint.host, port: endpoint.port, response: e.responseText ?? null },
    });
  }
  if (e?.tlsFailed && /STARTTLS/i.test(e.message ?? "")) {
    return new InboundError("STARTTLS_UNSUPPORTED", {
      message: `${endpoint.host}:${endpoint.port} does not offer STARTTLS, which this account requires. Use security tls on the IMAPS port; Inbound never falls back to plain text silently.`,
      cause: error,
      details: { host: endpoint.host, port: endpoint.port },
    });
  }
  const network = classifyConnectionError(error, endpoint);
  if (network) return network;
  if (e?.code === "NoConnection" || /closed|no connection|unexpected close|BYE/i.test(`${e?.message ?? ""} ${e?.responseText ?? ""}`)) {
    return new InboundError("CONNECTION_CLOSED", { message: `${endpoint.host}:${endpoint.port} closed the connection during ${command}.`, cause: error, retryable: true, details: { command } });
  }
  if (e?.serverResponseCode === "NONEXISTENT" || /doesn't exist|does not exist|unknown mailbox|mailbox not found/i.test(e?.responseText ?? "")) {
    return new InboundError("IMAP_FOLDER_NOT_FOUND", {
      message: `The folder "${options.folder}" does not exist on ${endpoint.host}; list folders with \`inbound folders NAME\`.`,
      cause: error,
      details: { folder: options.folder },
    });
  }
  return new InboundError("IMAP_COMMAND_FAILED", {
    message: `The IMAP server refused ${command}: ${e?.responseText ?? e?.message ?? String(error)}`,
    cause: error,
    retryable: TRANSIENT_RESPONSE_CODES.has(e?.serverResponseCode ?? ""),
    details: { command, responseCode: e?.serverResponseCode ?? null },
  });
}

async function withTimeout<T>(work: Promise<T>, ms: number, onTimeout: () => InboundError, signal?: AbortSignal): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
    if (signal) {
      onAbort = () => reject(new InboundError("ABORTED", { message: "Opening the IDLE connection was cancelled." }));
      signal.addEventListener("abort", onAbort, { once: true });
    }
  });
  try {
    return await Promise.race([work, guard]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener("abort", onAbort);
    work.catch(() => undefined);
  }
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
  const client = new ImapFlow(clientOptions(options));
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
    throw classify(error, options, "connect");
  }
  try {
    // SELECT, not EXAMINE: Dovecot told a read-only session of new mail ~200 ms later than a
    // read-write one (bench/idle-latency.ts). Nothing is changed through this connection.
    const mailbox = await withTimeout(client.mailboxOpen(options.folder, { readOnly: false }), options.timeoutMs, timeoutError("SELECT"), options.signal);
    exists = mailbox.exists;
  } catch (error) {
    client.close();
    throw classify(error, options, "SELECT");
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
      : classify(lastError, options, "IDLE");
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
        throw classify(error, options, "NOOP");
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
