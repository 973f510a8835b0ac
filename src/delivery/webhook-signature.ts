import { createHmac, timingSafeEqual } from "node:crypto";

/** The signature scheme's version tag in `Inbound-Signature: v1=<hex>`. */
export const SIGNATURE_VERSION = "v1";

/**
 * The `Inbound-Signature` header value for a body sent at `timestamp` (unix
 * seconds): `v1=` + hex HMAC-SHA256 over `"<timestamp>.<body>"`, keyed with
 * the webhook secret's UTF-8 bytes.
 *
 * @example
 * ```ts
 * const timestamp = Math.floor(Date.now() / 1000);
 * headers["Inbound-Signature"] = signWebhook(secret, timestamp, body); // "v1=5f0c..."
 * ```
 */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `${SIGNATURE_VERSION}=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

/** Options for {@link verifyWebhookSignature}. */
export interface VerifyWebhookOptions {
  /** Reject timestamps further than this from now (replays). Default 300 s; 0 turns the check off. */
  toleranceSeconds?: number;
  now?: Date;
}

/**
 * Check a received webhook: the signature must match the raw body (before
 * any JSON parsing) and the timestamp must be recent. Comparison is in
 * constant time. Several `v1=` values (comma-separated) are accepted, so a
 * sender may sign with an old and a new secret during rotation.
 *
 * @example
 * ```ts
 * const ok = verifyWebhookSignature(secret, req.headers["inbound-timestamp"], req.headers["inbound-signature"], rawBody);
 * if (!ok) return res.writeHead(401).end();
 * ```
 */
export function verifyWebhookSignature(secret: string, timestamp: string | number | undefined, signature: string | undefined, body: string | Buffer, options: VerifyWebhookOptions = {}): boolean {
  if (timestamp === undefined || signature === undefined) return false;
  const ts = Number(timestamp);
  if (!Number.isInteger(ts)) return false;
  const tolerance = options.toleranceSeconds ?? 300;
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  if (tolerance > 0 && Math.abs(now - ts) > tolerance) return false;
  const expected = Buffer.from(signWebhook(secret, ts, Buffer.isBuffer(body) ? body.toString("utf8") : body));
  return signature.split(",").some((candidate) => {
    const given = Buffer.from(candidate.trim());
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}
