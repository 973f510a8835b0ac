import { InboundError } from "../../../core/inbound-error.js";
import type { Pop3TlsOptions } from "../pop3-connection.js";
import type { Pop3ResponseReader } from "../pop3-response-reader.js";
import type { Pop3Capabilities } from "../pop3-capabilities.js";

/**
 * STLS (RFC 2595 §4): upgrade the connection to TLS. STLS is required when
 * asked for: a server that does not offer it, or refuses it, fails with
 * STARTTLS_UNSUPPORTED — never a silent fall back to plaintext.
 *
 * @example
 * ```ts
 * await stls(reader, capabilities, { tlsVerify: true, tlsCa: pem });
 * ```
 */
export async function stls(reader: Pop3ResponseReader, capabilities: Pop3Capabilities, tls: Pop3TlsOptions): Promise<void> {
  const { connection } = reader;
  const where = `${connection.host}:${connection.port}`;
  const unsupported = (said: string) => connection.fail(new InboundError("STARTTLS_UNSUPPORTED", {
    message: `The POP3 server at ${where} ${said}, and this account requires it (security starttls); use security tls on the POP3S port, or ask the server's admin to enable STLS.`,
    details: { host: connection.host, port: connection.port },
  }));
  if (!capabilities.has("STLS")) throw unsupported("does not offer STLS in its CAPA reply");
  connection.write("STLS\r\n", "STLS");
  const status = await reader.readStatus();
  if (status.kind !== "ok") throw unsupported(`refused STLS (${status.text})`);
  await connection.upgradeToTls(tls);
}
