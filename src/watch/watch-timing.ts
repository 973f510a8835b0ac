/**
 * Every delay the watch layer uses, in one place so tests can shrink them.
 * Production defaults in {@link DEFAULT_WATCH_TIMING}.
 */
export interface WatchTiming {
  /** First reconnect delay ceiling; doubles per failed attempt (full jitter). */
  backoffBaseMs: number;
  /** Reconnect delays never exceed this. */
  backoffMaxMs: number;
  /** A connection must stay up this long before the backoff starts over; one dropped sooner counts as another failure. */
  stableConnectionMs: number;
  /** A retrieval behind IDLE this often (and a NOOP on the IDLE connection), because IDLE dies silently. */
  safetyPollMs: number;
  /** Poll interval of a watch whose server has no IDLE (or POP3), unless the account sets `pollIntervalSeconds`. */
  fallbackPollMs: number;
  /** IDLE is ended and re-issued after this long (RFC 2177: servers may drop it after 30 min). */
  maxIdleMs: number;
  /** Spacing between first connection attempts when many watches start together (jittered). */
  startupSpacingMs: number;
  /** The whole startup spread never exceeds this. */
  startupSpreadMaxMs: number;
  /** Connection attempts (connect, sign in, catch-up) running at once across all watches. */
  connectConcurrency: number;
  /** How often a running manager re-reads subscriptions and poll schedules (changes made by another process). */
  refreshMs: number;
}

/**
 * The defaults: backoff 1 s doubling to 5 min (starting over once a
 * connection has lasted 1 min), safety poll 5 min, IDLE
 * re-issued every 25 min, startup spread 20 ms per account up to 30 s,
 * 16 connection attempts at once, subscriptions re-read every 3 s.
 *
 * @example
 * ```ts
 * const timing: WatchTiming = { ...DEFAULT_WATCH_TIMING, backoffMaxMs: 60_000 };
 * ```
 */
export const DEFAULT_WATCH_TIMING: Readonly<WatchTiming> = Object.freeze({
  backoffBaseMs: 1_000,
  backoffMaxMs: 5 * 60_000,
  stableConnectionMs: 60_000,
  safetyPollMs: 5 * 60_000,
  fallbackPollMs: 60_000,
  maxIdleMs: 25 * 60_000,
  startupSpacingMs: 20,
  startupSpreadMaxMs: 30_000,
  connectConcurrency: 16,
  refreshMs: 3_000,
});
