import pino, { type Logger } from "pino";

export type { Logger } from "pino";

/**
 * Fields whose values are secret wherever they appear in a log record. The
 * logger redacts them, so no call site has to remember to.
 */
export const SECRET_FIELDS = ["password", "pass", "passwordEnc", "password_enc", "accessToken", "refreshToken", "clientSecret", "secret", "token", "authorization", "encryptionKey"];

const REDACT_PATHS = SECRET_FIELDS.flatMap((field) => [field, `*.${field}`, `*.*.${field}`]);

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  level?: string;
  /** Where JSON lines go; default stderr (stdout belongs to command output). */
  destination?: NodeJS.WritableStream;
}

/**
 * A JSON logger that redacts secrets by field name.
 *
 * @example
 * ```ts
 * const log = createLogger({ level: "info" });
 * log.info({ account: { name: "support", password: "x" } }, "added"); // password → "[redacted]"
 * ```
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? process.env.INBOUND_LOG_LEVEL ?? "info",
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      base: undefined,
    },
    (options.destination ?? process.stderr) as pino.DestinationStream,
  );
}

/** A logger that drops everything (library default when the application gives none). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
