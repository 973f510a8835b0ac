import type { Security } from "../core/account-settings.js";

/**
 * How to reach and sign in to a mail server: the part every protocol
 * session shares (IMAP and POP3 add their own options on top).
 */
export interface ServerConnectionOptions {
  host: string;
  port: number;
  /** `tls`: implicit TLS; `starttls`: STARTTLS/STLS, required; `none`: plain text, only when asked for. */
  security: Security;
  /** Verify the server certificate (false sets rejectUnauthorized false). */
  tlsVerify: boolean;
  /** PEM of an extra CA (or the self-signed certificate) to trust. */
  tlsCa?: string | null;
  username: string;
  password: string;
  /** Connect timeout and per-command inactivity timeout, in ms. */
  timeoutMs: number;
  signal?: AbortSignal;
}
