import { InboundError } from "../core/inbound-error.js";

const UNTRUSTED_CERT_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
]);

const REFUSED_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL"]);
const CLOSED_CODES = new Set(["ECONNRESET", "EPIPE", "NoConnection", "EConnectionClosed"]);
const TIMEOUT_CODES = new Set(["ETIMEDOUT", "ETIMEOUT", "CONNECT_TIMEOUT", "GREETING_TIMEOUT", "UPGRADE_TIMEOUT"]);

/** Where a connection was going, for messages a user can act on. */
export interface Endpoint {
  host: string;
  port: number;
}

function causeCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current && typeof current === "object"; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Turn a socket or TLS failure into the catalogued InboundError, so IMAP and
 * POP3 report the same problem the same way. Returns undefined when the error
 * is not a network or TLS failure (the protocol layer classifies those).
 *
 * @example
 * ```ts
 * socket.on("error", (e) => reject(classifyConnectionError(e, { host, port }) ?? e));
 * ```
 */
export function classifyConnectionError(error: unknown, endpoint: Endpoint): InboundError | undefined {
  if (error instanceof InboundError) return error;
  const code = causeCode(error);
  const where = `${endpoint.host}:${endpoint.port}`;
  const detail = error instanceof Error ? error.message : String(error);
  if (code && UNTRUSTED_CERT_CODES.has(code)) {
    return new InboundError("TLS_CERT_UNTRUSTED", {
      message: `The TLS certificate of ${where} is not trusted (${code}). Give the server's CA with --tls-ca FILE (tlsCa), or turn verification off for this account with --no-tls-verify (tlsVerify: false).`,
      cause: error,
      details: { host: endpoint.host, port: endpoint.port, reason: code },
    });
  }
  if (code && REFUSED_CODES.has(code)) {
    return new InboundError("CONNECTION_FAILED", {
      message: `Could not connect to ${where} (${code}); check the host name, the port and that the server is running.`,
      cause: error,
      retryable: true,
      details: { host: endpoint.host, port: endpoint.port, reason: code },
    });
  }
  if (code && TIMEOUT_CODES.has(code)) {
    return new InboundError("CONNECTION_TIMEOUT", {
      message: `${where} did not answer in time; check the host and port, or raise the account's timeout.`,
      cause: error,
      retryable: true,
      details: { host: endpoint.host, port: endpoint.port },
    });
  }
  if (code && CLOSED_CODES.has(code)) {
    return new InboundError("CONNECTION_CLOSED", {
      message: `${where} closed the connection unexpectedly.`,
      cause: error,
      retryable: true,
      details: { host: endpoint.host, port: endpoint.port },
    });
  }
  if ((code && code.startsWith("ERR_SSL")) || /ssl|tls|wrong version number|handshake/i.test(detail)) {
    return new InboundError("TLS_FAILED", {
      message: `The TLS handshake with ${where} failed (${code ?? detail}); check the port and security setting (tls on 993/995, starttls on 143/110).`,
      cause: error,
      details: { host: endpoint.host, port: endpoint.port },
    });
  }
  return undefined;
}
