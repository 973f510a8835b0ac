import { withoutBidiControls } from "../core/bidi-controls.js";

/**
 * A `Content-Disposition: attachment` value per RFC 6266: an ASCII
 * `filename` fallback plus `filename*` (RFC 8187, UTF-8) for the real name.
 *
 * @example
 * ```ts
 * attachmentDisposition("Rechnung März.pdf");
 * // attachment; filename="Rechnung Mrz.pdf"; filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf
 * ```
 */
export function attachmentDisposition(filename: string): string {
  // Path separators and control characters never reach the user's disk name.
  const clean = withoutBidiControls(filename).replace(/[\\/\x00-\x1f\x7f]/g, "_").trim() || "attachment";
  const ascii = clean.replace(/[^\x20-\x7e]/g, "").replace(/["\\]/g, "_").trim() || "attachment";
  const encoded = encodeURIComponent(clean).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

/** A stored content type if it is a plain `type/subtype` (with parameters), else `application/octet-stream`. */
export function safeContentType(contentType: string): string {
  return /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+(\s*;\s*[a-z0-9!#$&^_.+-]+=("[^"\r\n]*"|[a-z0-9!#$&^_.+-]+))*$/i.test(contentType.trim())
    ? contentType.trim()
    : "application/octet-stream";
}
