import { InboundError } from "../core/inbound-error.js";

/**
 * `--limit N` as a whole number of at least 1, or CONFIG_INVALID naming the
 * flag (never NaN into a query).
 *
 * @example
 * ```ts
 * limitFlag("20"); // 20
 * limitFlag("abc"); // throws CONFIG_INVALID: --limit: must be a whole number of at least 1
 * ```
 */
export function limitFlag(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    const message = "must be a whole number of at least 1";
    throw new InboundError("CONFIG_INVALID", { message: `Invalid option: --limit: ${message}, got "${value}"`, details: { fields: [{ field: "--limit", message }] } });
  }
  return Number(value);
}
