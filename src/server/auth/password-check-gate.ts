import { createConcurrencyGate } from "../../core/concurrency-gate.js";
import { ApiError } from "../api-error.js";

/** Options for {@link createPasswordCheckGate}. */
export interface PasswordCheckGateOptions {
  /** Password checks running at once; default 2. */
  concurrency?: number;
  /** Checks allowed to wait for a slot; more are refused with RATE_LIMITED. Default 32. */
  maxWaiting?: number;
}

/** Lets a bounded number of password checks (scrypt) run at once. */
export interface PasswordCheckGate {
  /**
   * Run `check` once a slot is free. Throws RATE_LIMITED (retryable, with
   * Retry-After) without running it when `maxWaiting` checks already wait.
   */
  run<T>(check: () => Promise<T>): Promise<T>;
  /** Checks running now. */
  readonly running: number;
  /** Checks waiting for a slot now. */
  readonly waiting: number;
}

/**
 * scrypt runs on libuv's thread pool (4 threads by default), which blob and
 * raw-spool file I/O and DNS lookups share. Unbounded, a sign-in flood fills
 * every thread with 32 MiB, ~100 ms hashes and stalls storage; through this
 * gate at most `concurrency` hashes run and a short queue waits, the rest
 * are told to come back.
 *
 * @example
 * ```ts
 * const gate = createPasswordCheckGate({ concurrency: 2 });
 * const ok = await gate.run(() => verifyPassword(password, stored));
 * ```
 */
export function createPasswordCheckGate(options: PasswordCheckGateOptions = {}): PasswordCheckGate {
  const concurrency = Math.max(1, options.concurrency ?? 2);
  const gate = createConcurrencyGate(concurrency);
  const maxWaiting = Math.max(0, options.maxWaiting ?? 32);
  return {
    get running() {
      return gate.active;
    },
    get waiting() {
      return gate.waiting;
    },
    run(check) {
      if (gate.active >= concurrency && gate.waiting >= maxWaiting) {
        return Promise.reject(
          new ApiError("RATE_LIMITED", {
            message: "Too many sign-ins are being checked right now; try again in 1 s.",
            headers: { "retry-after": "1" },
            details: { retryAfterSeconds: 1 },
          }),
        );
      }
      return gate.run(check);
    },
  };
}
