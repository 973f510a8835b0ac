import { InboundError } from "../core/inbound-error.js";

/** Releases a held run lock. Safe to call twice. */
export type ReleaseRunLock = () => Promise<void>;

/**
 * Serialises retrievals per account so two runs never interleave. `wait`
 * queues behind the running one; otherwise a busy account throws
 * ACCOUNT_BUSY at once.
 */
export interface RunLock {
  acquire(accountId: string, options?: { wait?: boolean; signal?: AbortSignal }): Promise<ReleaseRunLock>;
}

/**
 * A run lock for one process. Cross-process exclusion comes from the
 * database lease in {@link createLeaseRunLock}; this one also makes runs
 * inside one process queue in order instead of polling.
 *
 * @example
 * ```ts
 * const release = await lock.acquire(account.id, { wait: true });
 * try { ... } finally { await release(); }
 * ```
 */
export function createProcessRunLock(): RunLock {
  const tails = new Map<string, Promise<void>>();
  return {
    async acquire(accountId, options = {}) {
      const previous = tails.get(accountId);
      if (previous && !options.wait) {
        throw new InboundError("ACCOUNT_BUSY", { message: "Another retrieval of this account is running in this process; wait for it to finish.", retryable: true, details: { accountId } });
      }
      let release!: () => void;
      const mine = new Promise<void>((resolve) => {
        release = resolve;
      });
      const tail = (previous ?? Promise.resolve()).then(() => mine);
      tails.set(accountId, tail);
      if (previous) {
        await Promise.race([
          previous,
          new Promise<never>((_, reject) => {
            options.signal?.addEventListener("abort", () => reject(new InboundError("ABORTED")), { once: true });
          }),
        ]).catch((error: unknown) => {
          release();
          throw error;
        });
      }
      let released = false;
      return async () => {
        if (released) return;
        released = true;
        release();
        if (tails.get(accountId) === tail) tails.delete(accountId);
      };
    },
  };
}
