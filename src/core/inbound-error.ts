import { ERROR_CODES, type ErrorCode } from "./error-codes.js";

/** Options for {@link InboundError}. */
export interface InboundErrorOptions {
  /** What went wrong, in words a user can act on. Defaults to the catalogue text. */
  message?: string;
  /** The underlying error, kept for logs; never shown with secrets. */
  cause?: unknown;
  /** Whether trying again later may succeed. Decided where the error is thrown. */
  retryable?: boolean;
  /** Structured detail, e.g. `{ fields: [{ field, message }] }` for CONFIG_INVALID. */
  details?: Record<string, unknown>;
}

/**
 * The one error type Inbound throws. `code` is stable and catalogued in
 * {@link ERROR_CODES}; `retryable` says whether a later attempt may succeed.
 *
 * @example
 * ```ts
 * try { await inbound.fetch("support"); }
 * catch (e) { if (e instanceof InboundError && e.code === "IMAP_AUTH_FAILED") alertOps(e.message); }
 * ```
 */
export class InboundError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, options: InboundErrorOptions = {}) {
    super(options.message ?? ERROR_CODES[code], options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "InboundError";
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details ?? {};
  }

  /** A plain object for `--json` output and logs: code, message, details, retryable. */
  toJSON(): { code: ErrorCode; message: string; retryable: boolean; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, retryable: this.retryable, details: this.details };
  }
}

/** True when `error` is an {@link InboundError}, optionally with the given code. */
export function isInboundError(error: unknown, code?: ErrorCode): error is InboundError {
  return error instanceof InboundError && (code === undefined || error.code === code);
}
