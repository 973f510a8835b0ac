import type { ErrorCode } from "../../core/error-codes.js";
import { Pop3ReplyError } from "./pop3-reply-error.js";
import type { Pop3ResponseReader } from "./pop3-response-reader.js";
import type { Pop3StatusLine } from "./pop3-status-line.js";

/**
 * Send one command and read its status line. `-ERR` throws a
 * {@link Pop3ReplyError} with `code`; the connection stays usable.
 *
 * @example
 * ```ts
 * await runCommand(reader, "NOOP");
 * ```
 */
export async function runCommand(reader: Pop3ResponseReader, line: string, code: ErrorCode = "POP3_COMMAND_FAILED"): Promise<Pop3StatusLine> {
  const verb = commandVerb(line);
  reader.connection.write(`${line}\r\n`, verb);
  const status = await reader.readStatus();
  if (status.kind === "ok") return status;
  if (status.kind === "continue") throw reader.protocolError(`answered ${verb} with a SASL continuation`);
  throw replyError(reader, verb, status, code);
}

/** The {@link Pop3ReplyError} for a `-ERR` status line. */
export function replyError(reader: Pop3ResponseReader, verb: string, status: Pop3StatusLine, code: ErrorCode = "POP3_COMMAND_FAILED", message?: string): Pop3ReplyError {
  const { host, port } = reader.connection;
  return new Pop3ReplyError(code, {
    command: verb,
    responseCode: status.responseCode,
    text: status.text,
    message: message ?? `The POP3 server at ${host}:${port} refused ${verb}`,
    details: { host, port },
  });
}

/** The verb of a command line: what errors may show without leaking arguments. */
export function commandVerb(line: string): string {
  const space = line.indexOf(" ");
  return (space === -1 ? line : line.slice(0, space)).toUpperCase();
}

/** A message number as the protocol wants it; anything else is a caller bug. */
export function messageNumber(value: number): string {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`POP3 message numbers are positive integers, got ${value}`);
  return String(value);
}
