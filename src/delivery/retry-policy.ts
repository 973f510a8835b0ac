/** How often and how patiently a failed delivery is retried. */
export interface RetryPolicy {
  /** Attempts in all, the first included; after the last failure the event is parked. */
  maxAttempts: number;
  /** Delay before the second attempt; doubles each time. */
  baseDelayMs: number;
  /** No delay grows beyond this. */
  maxDelayMs: number;
}

/** Webhooks: 10 attempts, 10 s doubling to at most 1 h (≈ 1.5 h from first to last attempt). */
export const DEFAULT_WEBHOOK_RETRY: RetryPolicy = { maxAttempts: 10, baseDelayMs: 10_000, maxDelayMs: 3_600_000 };

/** In-process handlers: 10 attempts, 1 s doubling to at most 10 min. */
export const DEFAULT_HANDLER_RETRY: RetryPolicy = { maxAttempts: 10, baseDelayMs: 1_000, maxDelayMs: 600_000 };

/**
 * The wait after failed attempt number `attempt` (1-based): exponential,
 * capped, with "equal jitter" (half fixed, half random) so that many
 * consumers failing together do not retry in lockstep.
 *
 * @example
 * ```ts
 * backoffDelay({ maxAttempts: 10, baseDelayMs: 1000, maxDelayMs: 60_000 }, 3); // 2000..4000
 * ```
 */
export function backoffDelay(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exponential / 2 + random() * (exponential / 2));
}

/** `partial` over `defaults`, with every number checked (at least one attempt, no negative delay). */
export function resolveRetryPolicy(defaults: RetryPolicy, partial: Partial<RetryPolicy> = {}): RetryPolicy {
  const policy = { ...defaults, ...partial };
  if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1) throw new RangeError("retry.maxAttempts must be an integer of at least 1");
  if (!(policy.baseDelayMs >= 0) || !(policy.maxDelayMs >= policy.baseDelayMs)) throw new RangeError("retry delays must satisfy 0 <= baseDelayMs <= maxDelayMs");
  return policy;
}
