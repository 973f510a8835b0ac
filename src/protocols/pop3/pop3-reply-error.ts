import type { ErrorCode } from "../../core/error-codes.js";
import { InboundError } from "../../core/inbound-error.js";

/**
 * RFC 2449 §8 response codes after which a later attempt may succeed:
 * the server is busy, the mailbox is locked, or logins are rate limited.
 */
const TRANSIENT_RESPONSE_CODES = new Set(["SYS/TEMP", "IN-USE", "LOGIN-DELAY"]);

/** What a POP3 server said when it refused a command. */
export interface Pop3ReplyErrorOptions {
  /** The command verb only (`RETR`, `AUTH`), never its arguments, so no secret can leak. */
  command: string;
  /** The RFC 2449 response code without brackets (`AUTH`, `SYS/TEMP`), or null. */
  responseCode: string | null;
  /** The server's human text after the status and response code. */
  text: string;
  /** Overrides the human message; the server's words are appended. */
  message?: string;
  /** Overrides the response-code rule for whether a retry may succeed. */
  retryable?: boolean;
  details?: Record<string, unknown>;
}

/**
 * The one error for a `-ERR` reply. It carries the server's status, the
 * response code (`[AUTH]`, `[IN-USE]`, `[SYS/TEMP]`, `[LOGIN-DELAY]`) and
 * text, and is an {@link InboundError} with a catalogued code
 * (`POP3_AUTH_FAILED`, `POP3_COMMAND_FAILED`, `POP3_UIDL_UNSUPPORTED`, ...).
 * `retryable` is true when the response code says the failure is temporary.
 *
 * @example
 * ```ts
 * try { await connectPop3(options); }
 * catch (e) {
 *   if (e instanceof Pop3ReplyError && e.responseCode === "IN-USE") scheduleRetry();
 * }
 * ```
 */
export class Pop3ReplyError extends InboundError {
  readonly status = "-ERR" as const;
  readonly command: string;
  readonly responseCode: string | null;
  readonly serverText: string;

  constructor(code: ErrorCode, options: Pop3ReplyErrorOptions) {
    const said = `server said: -ERR${options.responseCode ? ` [${options.responseCode}]` : ""}${options.text ? ` ${options.text}` : ""}`;
    const retryable = options.retryable ?? (options.responseCode !== null && isTransientResponseCode(options.responseCode));
    super(code, {
      message: `${options.message ?? `The POP3 server refused ${options.command}`} (${said})`,
      retryable,
      details: { ...options.details, command: options.command, status: "-ERR", responseCode: options.responseCode, serverText: options.text },
    });
    this.name = "Pop3ReplyError";
    this.command = options.command;
    this.responseCode = options.responseCode;
    this.serverText = options.text;
  }
}

/** True for response codes that announce a temporary condition (RFC 2449 §8, RFC 3206). */
export function isTransientResponseCode(responseCode: string): boolean {
  return TRANSIENT_RESPONSE_CODES.has(responseCode.toUpperCase());
}
