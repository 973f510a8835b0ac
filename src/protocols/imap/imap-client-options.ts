import type { ImapFlowOptions } from "imapflow";
import type { ServerConnectionOptions } from "../server-connection-options.js";

/**
 * imapflow options for a connection: TLS verified unless turned off, the
 * extra CA trusted, STARTTLS required when asked for (imapflow then fails
 * rather than fall back to plain text), imapflow's own logging off, and
 * auto-IDLE off (sessions and the IDLE listener drive IDLE themselves).
 *
 * @example
 * ```ts
 * const client = new ImapFlow(imapFlowOptions(options, { maxIdleTime: 25 * 60_000 }));
 * ```
 */
export function imapFlowOptions(options: ServerConnectionOptions, extra: Partial<ImapFlowOptions> = {}): ImapFlowOptions {
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
    disableAutoIdle: true,
    ...extra,
  } as ImapFlowOptions;
}
