import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * A fresh random secret for a session cookie, CSRF token or API token:
 * 32 bytes, base64url, with an optional prefix so leaked tokens are easy to
 * recognise in scanners (`inb_...`).
 *
 * @example
 * ```ts
 * const token = newSecretToken("inb_");
 * await store.apiTokens.create({ name, role, tokenHash: sha256Hex(token), createdBy });
 * ```
 */
export function newSecretToken(prefix = ""): string {
  return prefix + randomBytes(32).toString("base64url");
}

/** SHA-256 as hex: how session ids and API tokens are stored (high-entropy secrets need no salt or slow hash). */
export function sha256Hex(value: string): string {
  return createHash("sha256").update(value, "utf8").digest("hex");
}

/** Constant-time string compare. */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a, "utf8");
  const y = Buffer.from(b, "utf8");
  return x.length === y.length && timingSafeEqual(x, y);
}
