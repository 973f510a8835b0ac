import { isIP } from "node:net";
import { InboundError } from "../../core/inbound-error.js";

/** What Fastify's `trustProxy` takes, as far as a setting in text can say it. */
export type TrustProxySetting = boolean | string[];

/** proxy-addr's names for address ranges. */
const PRESETS = new Set(["loopback", "linklocal", "uniquelocal"]);

function isAddressOrRange(entry: string): boolean {
  if (PRESETS.has(entry)) return true;
  const [address, prefix, extra] = entry.split("/");
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/**
 * Read `INBOUND_TRUST_PROXY` / `--trust-proxy`: which hops may set
 * X-Forwarded-For and X-Forwarded-Proto (the client address the sign-in
 * limits count, and whether the request was HTTPS). Accepted:
 * empty or `false` (default: trust no one); `true` (trust every hop — only
 * when nothing but the proxy can reach the port); or a comma-separated list
 * of addresses, CIDR ranges and the names `loopback`, `linklocal`,
 * `uniquelocal`. A hop count is refused: Fastify 5 trusts nothing for one
 * (it cannot tell the proxy from a client that sends enough hops).
 *
 * @example
 * ```ts
 * parseTrustProxy("127.0.0.1, 10.0.0.0/8"); // ["127.0.0.1", "10.0.0.0/8"]
 * parseTrustProxy("true");                  // true
 * parseTrustProxy("proxy.local", "--trust-proxy"); // throws CONFIG_INVALID naming --trust-proxy
 * ```
 */
export function parseTrustProxy(text: string | undefined, field = "INBOUND_TRUST_PROXY"): TrustProxySetting {
  const invalid = (message: string) => new InboundError("CONFIG_INVALID", { message: `${field}: ${message}`, details: { fields: [{ field, message }] } });
  const value = (text ?? "").trim();
  if (value === "" || value.toLowerCase() === "false") return false;
  if (value.toLowerCase() === "true") return true;
  if (/^\d+$/.test(value)) throw invalid(`must name the proxy (an address or CIDR range, e.g. 127.0.0.1 or 10.0.0.0/8), true, or false; a hop count ("${value}") is not supported`);
  const entries = value.split(",").map((e) => e.trim()).filter((e) => e !== "");
  const wrong = entries.filter((e) => !isAddressOrRange(e));
  if (entries.length === 0 || wrong.length > 0) {
    throw invalid(`must be true, false, or addresses and CIDR ranges separated by commas (e.g. 127.0.0.1,10.0.0.0/8 or loopback); "${wrong.join(", ") || value}" is none of these`);
  }
  return entries;
}
