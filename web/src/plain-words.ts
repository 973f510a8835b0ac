/*
 * Error codes from the catalogue (src/core/error-codes.ts) said the way an
 * admin would say them, for test results and account states.
 */

const WHAT_FAILED: Record<string, string> = {
  IMAP_AUTH_FAILED: "Sign-in failed: the server rejected the user name or password.",
  POP3_AUTH_FAILED: "Sign-in failed: the server rejected the user name or password.",
  CONNECTION_FAILED: "Could not reach the server: check the host name and port, and that the server is up.",
  CONNECTION_TIMEOUT: "The server did not answer in time: check the host and port, or raise the timeout.",
  CONNECTION_CLOSED: "The server closed the connection unexpectedly.",
  TLS_CERT_UNTRUSTED: "The server's certificate is not trusted: paste its CA certificate, or turn off certificate checks for this account.",
  TLS_FAILED: "The secure connection (TLS) failed: check the port and the security setting (TLS on 993/995, STARTTLS on 143/110).",
  STARTTLS_UNSUPPORTED: "The server does not offer STARTTLS: choose TLS, or none only on a trusted network.",
  IMAP_FOLDER_NOT_FOUND: "Signed in, but the folder does not exist on the server: pick one from the list.",
  IMAP_COMMAND_FAILED: "The server refused a command.",
  POP3_UIDL_UNSUPPORTED: "The POP3 server does not support UIDL, so Inbound cannot tell which messages it already has.",
  POP3_COMMAND_FAILED: "The POP3 server refused a command.",
  ACCOUNT_BUSY: "A retrieval of this account is already running.",
  ACCOUNT_DISABLED: "The account is disabled: enable it first.",
  SECRET_KEY_MISMATCH: "The stored password cannot be decrypted with this server's key: enter the password again.",
  NOT_IMPLEMENTED: "This server was started without that service.",
  NETWORK: "The Inbound server could not be reached.",
};

/** A sentence saying what failed; falls back to the server's own message. */
export function whatFailed(code: string | null | undefined, message?: string | null): string {
  const words = code ? WHAT_FAILED[code] : undefined;
  if (words && message && !words.includes(message)) return `${words} (${message})`;
  return words ?? message ?? "Something went wrong.";
}

const SHORT_REASON: Record<string, string> = {
  IMAP_AUTH_FAILED: "authentication",
  POP3_AUTH_FAILED: "authentication",
  CONNECTION_FAILED: "cannot connect",
  CONNECTION_TIMEOUT: "timeout",
  CONNECTION_CLOSED: "connection closed",
  TLS_CERT_UNTRUSTED: "certificate not trusted",
  TLS_FAILED: "TLS",
  STARTTLS_UNSUPPORTED: "no STARTTLS",
  IMAP_FOLDER_NOT_FOUND: "folder not found",
  POP3_UIDL_UNSUPPORTED: "no UIDL",
  SECRET_KEY_MISMATCH: "password key",
};

/** "authentication" for IMAP_AUTH_FAILED, for "failed: authentication". */
export function shortReason(code: string | null | undefined, detail?: string | null): string {
  if (code && SHORT_REASON[code]) return SHORT_REASON[code];
  return detail ?? code?.toLowerCase().replaceAll("_", " ") ?? "unknown";
}
