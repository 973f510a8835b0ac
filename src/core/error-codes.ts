/**
 * The one catalogue of Inbound's error codes, each with a description a user
 * can act on. An error's `code` never changes once released; scripts match it.
 *
 * @example
 * ```ts
 * console.log(ERROR_CODES.IMAP_AUTH_FAILED); // "The IMAP server rejected ..."
 * ```
 */
export const ERROR_CODES = {
  CONFIG_INVALID: "A setting is missing or has a wrong value; the details name each field.",
  ACCOUNT_NOT_FOUND: "No account has that name or id.",
  ACCOUNT_EXISTS: "An account with that name already exists; choose another name or update it.",
  ACCOUNT_DISABLED: "The account is disabled; enable it before fetching.",
  ACCOUNT_BUSY: "Another retrieval of this account is running; wait for it to finish.",
  MESSAGE_NOT_FOUND: "No stored message has that id.",
  ATTACHMENT_NOT_FOUND: "No stored attachment has that id.",
  CONNECTION_FAILED: "Could not connect to the mail server; check host, port and network.",
  CONNECTION_TIMEOUT: "The mail server did not answer in time; check the host or raise the timeout.",
  CONNECTION_CLOSED: "The mail server closed the connection unexpectedly.",
  TLS_CERT_UNTRUSTED: "The server's TLS certificate is not trusted; give its CA with --tls-ca, or turn verification off for this account with --no-tls-verify.",
  TLS_FAILED: "The TLS handshake failed; check the port and the security setting (tls on 993/995, starttls on 143/110).",
  STARTTLS_UNSUPPORTED: "The server does not offer STARTTLS/STLS, which this account requires; use security tls or ask the server's admin to enable it.",
  IMAP_AUTH_FAILED: "The IMAP server rejected the user name or password.",
  IMAP_COMMAND_FAILED: "The IMAP server refused a command.",
  IMAP_UIDVALIDITY_CHANGED: "The folder's UIDVALIDITY changed during a run, so its UIDs name other messages; the run stopped and the next one matches the folder again.",
  IMAP_MESSAGE_INCOMPLETE: "The IMAP server stopped sending a message before its end; nothing of that batch was stored or removed, and the next run fetches it again.",
  IMAP_FOLDER_NOT_FOUND: "The folder does not exist on the IMAP server; list folders with `inbound folders NAME`.",
  POP3_AUTH_FAILED: "The POP3 server rejected the user name or password.",
  POP3_COMMAND_FAILED: "The POP3 server refused a command.",
  POP3_UIDL_UNSUPPORTED: "The POP3 server does not support UIDL, so Inbound cannot tell which messages it already has.",
  POP3_PROTOCOL_ERROR: "The POP3 server sent a reply that breaks the protocol.",
  PROTOCOL_LIMIT_EXCEEDED: "The server sent a line or literal beyond Inbound's safety limits.",
  STORE_FAILED: "Writing to the database or blob store failed.",
  STORE_MISMATCH: "The raw spool in the data directory belongs to another database, or holds messages this database does not know; point DATABASE_URL and --data-dir at a database and data directory that belong together.",
  BLOB_NOT_FOUND: "A stored raw message or attachment file is missing from the blob store; restore the blobs directory from a backup.",
  DATABASE_URL_INVALID: "DATABASE_URL is not a postgres:// URL or an SQLite path.",
  SECRET_KEY_INVALID: "INBOUND_ENCRYPTION_KEY must be 32 bytes, written as base64 or hex.",
  SECRET_KEY_MISMATCH: "A stored secret was encrypted with a key this process does not have, or the key is wrong; set INBOUND_ENCRYPTION_KEY to the key that encrypted it.",
  SECRET_KEY_UNKNOWN: "A stored secret names a key id that no configured key has.",
  MESSAGE_PARSE_FAILED: "The message could not be parsed; its raw bytes are stored and flagged.",
  ABORTED: "The operation was cancelled.",
  WEBHOOK_INVALID: "A webhook setting is missing or wrong; the details name each field.",
  WEBHOOK_NOT_FOUND: "No webhook has that id; list them with `inbound webhooks list`.",
  DELIVERY_BUSY: "The delivery is being attempted right now; replay it once that attempt has ended.",
  DELIVERY_NOT_FOUND: "No delivery has that id; list them with `inbound deliveries list`.",
  HANDLER_FAILED: "An in-process handler threw; the event is retried with backoff and parked after the retry limit.",
  HANDLER_NAME_TAKEN: "A handler with that name is already registered in this process; pass a different { name }.",
  WEBHOOK_FAILED: "The webhook target did not answer with 2xx in time; the event is retried with backoff and parked after the retry limit.",
} as const;

/** A catalogued error code. */
export type ErrorCode = keyof typeof ERROR_CODES;
