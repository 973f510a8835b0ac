import { InboundError } from "../../core/inbound-error.js";
import { classifyConnectionError } from "../connection-error.js";

/** Server answers during connect/SELECT that mean "later", not "never". */
const TRANSIENT_RESPONSE_CODES = new Set(["UNAVAILABLE", "SERVERBUG", "LIMIT", "INUSE"]);

/** Where a failing IMAP command was going: for messages a user can act on. */
export interface ImapErrorContext {
  host: string;
  port: number;
  username: string;
  /** The folder the command was about, when there is one. */
  folder?: string;
}

/**
 * Turn an imapflow failure into the catalogued InboundError: authentication,
 * refused STARTTLS, network and TLS problems, a closed connection, a missing
 * folder, or a refused command (retryable when the server said "later").
 *
 * @example
 * ```ts
 * try { await client.connect(); } catch (e) { throw classifyImapError(e, { host, port, username }, "connect"); }
 * ```
 */
export function classifyImapError(error: unknown, options: ImapErrorContext, command: string): InboundError {
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
      message: `The folder "${options.folder ?? "(unknown)"}" does not exist on ${endpoint.host}; list folders with \`inbound folders NAME\`.`,
      cause: error,
      details: { folder: options.folder ?? null, command },
    });
  }
  return new InboundError("IMAP_COMMAND_FAILED", {
    message: `The IMAP server refused ${command}: ${e?.responseText ?? e?.message ?? String(error)}`,
    cause: error,
    retryable: TRANSIENT_RESPONSE_CODES.has(e?.serverResponseCode ?? ""),
    details: { command, responseCode: e?.serverResponseCode ?? null },
  });
}
