import { InboundError } from "./inbound-error.js";

/**
 * A counting semaphore: at most `limit` holders at once, others wait in order.
 * Used so hundreds of watches starting together open a few connections at a
 * time, and so a sign-in flood runs a few password hashes at a time.
 */
export interface ConcurrencyGate {
  /** Run `work` once a slot is free; the slot is released when it settles. Waiting ends early (ABORTED) when `signal` aborts. */
  run<T>(work: () => Promise<T>, signal?: AbortSignal): Promise<T>;
  /** Holders now. */
  readonly active: number;
  /** Callers waiting for a slot now. */
  readonly waiting: number;
}

/**
 * Create a {@link ConcurrencyGate}.
 *
 * @example
 * ```ts
 * const gate = createConcurrencyGate(16);
 * await gate.run(() => openIdleListener(options));
 * ```
 */
export function createConcurrencyGate(limit: number): ConcurrencyGate {
  let active = 0;
  const waiting: Array<() => void> = [];
  const release = () => {
    const next = waiting.shift();
    // Hand the slot straight to the next waiter, so a newcomer cannot overtake it.
    if (next) next();
    else active--;
  };
  return {
    get active() {
      return active;
    },
    get waiting() {
      return waiting.length;
    },
    async run(work, signal) {
      if (active >= limit) {
        await new Promise<void>((resolve, reject) => {
          const grant = () => {
            signal?.removeEventListener("abort", onAbort);
            resolve();
          };
          const onAbort = () => {
            const index = waiting.indexOf(grant);
            if (index >= 0) waiting.splice(index, 1);
            reject(new InboundError("ABORTED", { message: "Waiting for a connection slot was cancelled." }));
          };
          waiting.push(grant);
          signal?.addEventListener("abort", onAbort, { once: true });
        });
        // The releasing holder handed its slot over; `active` stays as it was.
      } else {
        active++;
      }
      try {
        return await work();
      } finally {
        release();
      }
    },
  };
}
