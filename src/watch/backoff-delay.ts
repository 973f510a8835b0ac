/**
 * Exponential backoff with full jitter (AWS architecture blog, "Exponential
 * Backoff and Jitter"): a uniformly random delay between 0 and
 * `min(maxMs, baseMs * 2^(attempt-1))`. Full jitter spreads the reconnects
 * of many watches that failed together (a server restart) instead of
 * bunching them into waves.
 *
 * @example
 * ```ts
 * backoffDelay(1, { baseMs: 1000, maxMs: 300_000 });   // 0..1000
 * backoffDelay(10, { baseMs: 1000, maxMs: 300_000 });  // 0..300_000
 * ```
 */
export function backoffDelay(attempt: number, options: { baseMs: number; maxMs: number }, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(attempt, 1) - 1, 30);
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** exponent);
  return Math.floor(random() * ceiling);
}
