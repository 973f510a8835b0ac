/**
 * Error codes that exist only at the HTTP edge (who you are, what you may do,
 * how the request was shaped). Everything else the API answers with is an
 * {@link InboundError} code from `core/error-codes.ts`; together they are the
 * `code` values of an error body.
 *
 * @example
 * ```ts
 * console.log(API_ERROR_CODES.CSRF_TOKEN_INVALID);
 * ```
 */
export const API_ERROR_CODES = {
  REQUEST_INVALID: "The request does not match the API schema; the details name each field.",
  UNAUTHENTICATED: "Sign in (session cookie) or send `Authorization: Bearer <token>`.",
  INVALID_CREDENTIALS: "The username or password is wrong.",
  FORBIDDEN: "Your role may not do this; it needs an admin.",
  CSRF_TOKEN_INVALID: "A signed-in browser request that changes something must send the session's CSRF token in X-CSRF-Token.",
  RATE_LIMITED: "Too many failed sign-ins; wait for the time in Retry-After.",
  NOT_FOUND: "There is nothing at this address.",
  RUN_NOT_FOUND: "No retrieval run has that id in this process (runs are kept for a while after they end).",
  USER_NOT_FOUND: "No user has that id.",
  USER_EXISTS: "A user with that username already exists.",
  LAST_ADMIN: "This would leave no admin; make another user admin first.",
  TOKEN_NOT_FOUND: "No live API token has that id.",
  NOT_IMPLEMENTED: "This service is not running in this process.",
  UNSUPPORTED_MEDIA_TYPE: "Send the body as application/json (or a form for sign-in).",
  PAYLOAD_TOO_LARGE: "The request body is too large.",
  INTERNAL: "Something went wrong inside Inbound; the log has the details.",
} as const;

/** An HTTP-edge error code. */
export type ApiErrorCode = keyof typeof API_ERROR_CODES;

/** Options for {@link ApiError}. */
export interface ApiErrorOptions {
  message?: string;
  details?: Record<string, unknown>;
  /** Extra response headers, e.g. `Retry-After`. */
  headers?: Record<string, string>;
  cause?: unknown;
}

/**
 * An error decided by the HTTP layer. Its status comes from the same table as
 * every other code (`http-status.ts`).
 *
 * @example
 * ```ts
 * throw new ApiError("FORBIDDEN", { message: "Creating users needs the admin role." });
 * ```
 */
export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly details: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(code: ApiErrorCode, options: ApiErrorOptions = {}) {
    super(options.message ?? API_ERROR_CODES[code], options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ApiError";
    this.code = code;
    this.details = options.details ?? {};
    this.headers = options.headers ?? {};
  }
}
