import { ERROR_CODES } from "../core/error-codes.js";
import { InboundError } from "../core/inbound-error.js";
import { ApiError } from "./api-error.js";

/*
 * The one place an error code becomes an HTTP status. Mail-server failures
 * are the upstream's fault (502/504), not the client's; codes not listed
 * fall back by suffix (`*_NOT_FOUND` 404, `*_INVALID` 400), else 500.
 */
const STATUS: Readonly<Record<string, number>> = {
  REQUEST_INVALID: 400,
  CONFIG_INVALID: 400,
  WEBHOOK_INVALID: 400,
  UNAUTHENTICATED: 401,
  INVALID_CREDENTIALS: 401,
  FORBIDDEN: 403,
  CSRF_TOKEN_INVALID: 403,
  NOT_FOUND: 404,
  ACCOUNT_NOT_FOUND: 404,
  MESSAGE_NOT_FOUND: 404,
  ATTACHMENT_NOT_FOUND: 404,
  WEBHOOK_NOT_FOUND: 404,
  DELIVERY_NOT_FOUND: 404,
  RUN_NOT_FOUND: 404,
  USER_NOT_FOUND: 404,
  TOKEN_NOT_FOUND: 404,
  ACCOUNT_EXISTS: 409,
  USER_EXISTS: 409,
  ACCOUNT_BUSY: 409,
  DELIVERY_BUSY: 409,
  ACCOUNT_DISABLED: 409,
  LAST_ADMIN: 409,
  HANDLER_NAME_TAKEN: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  BLOB_NOT_FOUND: 500,
  STORE_FAILED: 500,
  NOT_IMPLEMENTED: 501,
  CONNECTION_FAILED: 502,
  CONNECTION_CLOSED: 502,
  TLS_CERT_UNTRUSTED: 502,
  TLS_FAILED: 502,
  STARTTLS_UNSUPPORTED: 502,
  IMAP_AUTH_FAILED: 502,
  IMAP_COMMAND_FAILED: 502,
  IMAP_FOLDER_NOT_FOUND: 502,
  IMAP_UIDVALIDITY_CHANGED: 502,
  IMAP_MESSAGE_INCOMPLETE: 502,
  POP3_AUTH_FAILED: 502,
  POP3_COMMAND_FAILED: 502,
  POP3_UIDL_UNSUPPORTED: 502,
  POP3_PROTOCOL_ERROR: 502,
  PROTOCOL_LIMIT_EXCEEDED: 502,
  WEBHOOK_FAILED: 502,
  CONNECTION_TIMEOUT: 504,
  ABORTED: 503,
};

/**
 * The HTTP status for an error code.
 *
 * @example
 * ```ts
 * httpStatusOf("ACCOUNT_NOT_FOUND"); // 404
 * ```
 */
export function httpStatusOf(code: string): number {
  const known = STATUS[code];
  if (known !== undefined) return known;
  if (code.endsWith("_NOT_FOUND")) return 404;
  if (code.endsWith("_INVALID")) return 400;
  return 500;
}

/** The JSON body of every error answer. */
export interface ErrorBody {
  code: string;
  message: string;
  details: Record<string, unknown>;
  retryable: boolean;
}

/**
 * Status, headers and body for anything thrown by a route. Unknown errors
 * become INTERNAL without their message (it may carry internals). So do the
 * words of a 500 (the store failing, a blob missing): they name files and
 * directories on the server, which is the operator's business, not every
 * API caller's. Its code stays, with the catalogue's advice; the server log
 * has the whole error (api-server logs every 500).
 */
export function errorResponse(error: unknown): { status: number; headers: Record<string, string>; body: ErrorBody } {
  if (error instanceof ApiError) {
    return { status: httpStatusOf(error.code), headers: error.headers, body: { code: error.code, message: error.message, details: error.details, retryable: error.code === "RATE_LIMITED" } };
  }
  if (error instanceof InboundError) {
    const status = httpStatusOf(error.code);
    if (status === 500) {
      return { status, headers: {}, body: { code: error.code, message: `${ERROR_CODES[error.code]} The server log has the details.`, details: {}, retryable: error.retryable } };
    }
    return { status, headers: {}, body: { code: error.code, message: error.message, details: error.details, retryable: error.retryable } };
  }
  return { status: 500, headers: {}, body: { code: "INTERNAL", message: "Something went wrong inside Inbound; the log has the details.", details: {}, retryable: false } };
}
