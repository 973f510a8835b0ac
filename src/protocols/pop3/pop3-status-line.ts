import { InboundError } from "../../core/inbound-error.js";

/** One parsed POP3 status line: `+OK`, `-ERR`, or a SASL continuation `+ `. */
export interface Pop3StatusLine {
  kind: "ok" | "err" | "continue";
  /** RFC 2449 response code without brackets, e.g. `SYS/TEMP`; null when absent. */
  responseCode: string | null;
  /** Text after the status and response code (for `+ `, the base64 challenge). */
  text: string;
}

// Response codes are atoms with optional `/` hierarchy (RFC 2449 §8).
const RESPONSE_CODE = /^\[([A-Za-z0-9-]+(?:\/[A-Za-z0-9-]+)*)(?: [^\]]*)?\]\s?/;

/**
 * Parse a status line (without its CRLF). Anything that is not `+OK`,
 * `-ERR` or `+ ` breaks the protocol and throws POP3_PROTOCOL_ERROR.
 *
 * @example
 * ```ts
 * parsePop3StatusLine("-ERR [IN-USE] mailbox locked");
 * // { kind: "err", responseCode: "IN-USE", text: "mailbox locked" }
 * ```
 */
export function parsePop3StatusLine(line: string): Pop3StatusLine {
  let kind: Pop3StatusLine["kind"];
  let rest: string;
  if (/^\+OK(?: |$)/i.test(line)) {
    kind = "ok";
    rest = line.slice(4);
  } else if (/^-ERR(?: |$)/i.test(line)) {
    kind = "err";
    rest = line.slice(5);
  } else if (line === "+" || line.startsWith("+ ")) {
    return { kind: "continue", responseCode: null, text: line.slice(2) };
  } else {
    throw new InboundError("POP3_PROTOCOL_ERROR", {
      message: `The POP3 server sent a line that is neither +OK nor -ERR: ${JSON.stringify(line.slice(0, 80))}`,
      retryable: true,
      details: { line: line.slice(0, 200) },
    });
  }
  const match = RESPONSE_CODE.exec(rest);
  if (!match) return { kind, responseCode: null, text: rest };
  return { kind, responseCode: match[1].toUpperCase(), text: rest.slice(match[0].length) };
}
