import type { Pop3ResponseReader } from "../pop3-response-reader.js";
import { parsePop3Capabilities, type Pop3Capabilities } from "../pop3-capabilities.js";

/**
 * CAPA (RFC 2449 §5). A server without CAPA answers `-ERR`; that means it
 * announces nothing, so the result is an empty map rather than an error.
 *
 * @example
 * ```ts
 * const capabilities = await capa(reader);
 * capabilities.has("PIPELINING");
 * ```
 */
export async function capa(reader: Pop3ResponseReader): Promise<Pop3Capabilities> {
  reader.connection.write("CAPA\r\n", "CAPA");
  const status = await reader.readStatus();
  if (status.kind !== "ok") return new Map();
  return parsePop3Capabilities(await reader.readLines());
}
