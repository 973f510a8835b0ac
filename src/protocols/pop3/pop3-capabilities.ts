/**
 * Capabilities from CAPA (RFC 2449 §5): tag in upper case → its arguments,
 * e.g. `SASL → ["PLAIN", "LOGIN"]`, `PIPELINING → []`.
 */
export type Pop3Capabilities = ReadonlyMap<string, string[]>;

/**
 * Parse the lines of a CAPA reply.
 *
 * @example
 * ```ts
 * parsePop3Capabilities(["UIDL", "SASL PLAIN LOGIN"]).get("SASL"); // ["PLAIN", "LOGIN"]
 * ```
 */
export function parsePop3Capabilities(lines: string[]): Pop3Capabilities {
  const capabilities = new Map<string, string[]>();
  for (const line of lines) {
    const [tag, ...args] = line.trim().split(/\s+/);
    if (tag) capabilities.set(tag.toUpperCase(), args);
  }
  return capabilities;
}

/** True when CAPA listed `SASL` with `mechanism` among its arguments. */
export function hasSaslMechanism(capabilities: Pop3Capabilities, mechanism: string): boolean {
  return (capabilities.get("SASL") ?? []).some((m) => m.toUpperCase() === mechanism);
}
