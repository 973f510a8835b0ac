import { randomBytes } from "node:crypto";

/**
 * A new UUIDv7 (RFC 9562): random, but ordered by creation time, so sorting
 * ids sorts records by when they were made, on SQLite and PostgreSQL alike.
 *
 * @example
 * ```ts
 * const id = newId(); // "01939c4e-8f2a-7c3d-9b1e-4f5a6b7c8d9e"
 * ```
 */
export function newId(now: number = Date.now()): string {
  const bytes = randomBytes(16);
  let ms = now;
  for (let i = 5; i >= 0; i--) {
    bytes[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  // Within one millisecond keep ids increasing: a counter in the random bits.
  const counter = nextCounter(now);
  bytes[6] = 0x70 | ((counter >> 8) & 0x0f);
  bytes[7] = counter & 0xff;
  bytes[8] = 0x80 | (bytes[8] & 0x3f);
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

let lastMs = -1;
let counterValue = 0;
function nextCounter(ms: number): number {
  if (ms === lastMs) {
    counterValue = (counterValue + 1) & 0x0fff;
  } else {
    lastMs = ms;
    counterValue = randomBytes(2).readUInt16BE(0) & 0x07ff;
  }
  return counterValue;
}
