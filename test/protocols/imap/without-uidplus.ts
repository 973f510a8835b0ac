/**
 * Dovecot config for a server without UIDPLUS and MOVE: its capability list
 * less those two and the extensions imapflow would prefer instead. Pass it as
 * `extraConfig` to `startDovecot`.
 *
 * @example
 * ```ts
 * const dovecot = await startDovecot({ extraConfig: WITHOUT_UIDPLUS_AND_MOVE });
 * ```
 */
export const WITHOUT_UIDPLUS_AND_MOVE = "protocol imap {\n  imap_capability = IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE NAMESPACE\n}\n";

/** Dovecot config for a server with UIDPLUS but without MOVE (clients COPY, then UID EXPUNGE). */
export const WITHOUT_MOVE = "protocol imap {\n  imap_capability = IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE NAMESPACE UIDPLUS\n}\n";
