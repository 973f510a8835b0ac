import type { ErrorCode } from "../../../core/error-codes.js";
import { replyError } from "../pop3-command.js";
import { hasSaslMechanism, type Pop3Capabilities } from "../pop3-capabilities.js";
import type { Pop3ResponseReader } from "../pop3-response-reader.js";
import type { Pop3StatusLine } from "../pop3-status-line.js";

/** Credentials for {@link authenticate}. */
export interface AuthenticateOptions {
  username: string;
  password: string;
}

// RFC 5034 §4: a command line with its initial response must fit in 255 octets.
const MAX_AUTH_COMMAND_LENGTH = 255;

/**
 * Log in: SASL PLAIN with an initial response (RFC 5034) when CAPA lists
 * `SASL PLAIN`, else USER/PASS (RFC 1939 §7). Wrong credentials fail with
 * POP3_AUTH_FAILED (not retryable); `[SYS/TEMP]`, `[IN-USE]` and
 * `[LOGIN-DELAY]` make it retryable. No error carries the password.
 *
 * @example
 * ```ts
 * await authenticate(reader, capabilities, { username: "alice", password });
 * ```
 */
export async function authenticate(reader: Pop3ResponseReader, capabilities: Pop3Capabilities, credentials: AuthenticateOptions): Promise<void> {
  if (hasSaslMechanism(capabilities, "PLAIN")) return authPlain(reader, credentials);
  return userPass(reader, credentials);
}

async function authPlain(reader: Pop3ResponseReader, { username, password }: AuthenticateOptions): Promise<void> {
  const { connection } = reader;
  const response = Buffer.from(`\0${username}\0${password}`, "utf8").toString("base64");
  const withInitial = `AUTH PLAIN ${response}`;
  if (withInitial.length + 2 <= MAX_AUTH_COMMAND_LENGTH) {
    connection.write(`${withInitial}\r\n`, "AUTH");
  } else {
    connection.write("AUTH PLAIN\r\n", "AUTH");
    const challenge = await reader.readStatus();
    if (challenge.kind !== "continue") return failed(reader, "AUTH", challenge);
    connection.write(`${response}\r\n`, "AUTH");
  }
  const status = await reader.readStatus();
  if (status.kind === "continue") {
    // PLAIN has no server challenge after the response; cancel (RFC 5034 §4) and report.
    connection.write("*\r\n", "AUTH");
    const cancelled = await reader.readStatus();
    return failed(reader, "AUTH", cancelled.kind === "err" ? cancelled : { kind: "err", responseCode: null, text: "unexpected SASL challenge" });
  }
  if (status.kind === "err") return failed(reader, "AUTH", status);
}

async function userPass(reader: Pop3ResponseReader, { username, password }: AuthenticateOptions): Promise<void> {
  const { connection } = reader;
  connection.write(`USER ${username}\r\n`, "USER");
  const user = await reader.readStatus();
  if (user.kind !== "ok") return failed(reader, "USER", user);
  connection.write(`PASS ${password}\r\n`, "PASS");
  const pass = await reader.readStatus();
  if (pass.kind !== "ok") return failed(reader, "PASS", pass);
}

function failed(reader: Pop3ResponseReader, verb: string, status: Pop3StatusLine): never {
  if (status.kind === "continue") throw reader.protocolError(`answered ${verb} with an unexpected SASL continuation`);
  const code: ErrorCode = "POP3_AUTH_FAILED";
  const { host, port } = reader.connection;
  throw replyError(reader, verb, status, code, `The POP3 server at ${host}:${port} did not log in the user`);
}
