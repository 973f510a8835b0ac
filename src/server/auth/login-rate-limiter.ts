/** Options for {@link createLoginRateLimiter}. */
export interface LoginRateLimiterOptions {
  /** Failures allowed per key in the window; default 5. */
  maxFailures?: number;
  /** Default 15 minutes. */
  windowMs?: number;
  now?: () => number;
}

/** Failed sign-ins per (username, client address), in memory. */
export interface LoginRateLimiter {
  /** `retryAfterSeconds` is set when the key is blocked. */
  check(key: string): { blocked: false } | { blocked: true; retryAfterSeconds: number };
  recordFailure(key: string): void;
  /** A successful sign-in forgets the key's failures. */
  reset(key: string): void;
}

/**
 * A fixed-window limiter: after `maxFailures` failures a key is blocked until
 * the window that began with its first failure ends. Per process: a cluster
 * of N processes allows N times as many guesses, which is still slow against
 * scrypt hashes.
 *
 * @example
 * ```ts
 * const limiter = createLoginRateLimiter();
 * const verdict = limiter.check(`${username}|${ip}`);
 * if (verdict.blocked) reply.header("retry-after", String(verdict.retryAfterSeconds));
 * ```
 */
export function createLoginRateLimiter(options: LoginRateLimiterOptions = {}): LoginRateLimiter {
  const max = options.maxFailures ?? 5;
  const windowMs = options.windowMs ?? 15 * 60_000;
  const now = options.now ?? Date.now;
  const entries = new Map<string, { first: number; failures: number }>();

  const live = (key: string) => {
    const entry = entries.get(key);
    if (entry !== undefined && now() - entry.first >= windowMs) {
      entries.delete(key);
      return undefined;
    }
    return entry;
  };
  const prune = () => {
    // Bounded memory under a spray of usernames: drop expired windows once the map grows.
    if (entries.size < 10_000) return;
    for (const key of [...entries.keys()]) live(key);
  };

  return {
    check(key) {
      const entry = live(key);
      if (entry === undefined || entry.failures < max) return { blocked: false };
      return { blocked: true, retryAfterSeconds: Math.max(1, Math.ceil((entry.first + windowMs - now()) / 1000)) };
    },
    recordFailure(key) {
      prune();
      const entry = live(key);
      if (entry === undefined) entries.set(key, { first: now(), failures: 1 });
      else entry.failures++;
    },
    reset(key) {
      entries.delete(key);
    },
  };
}
