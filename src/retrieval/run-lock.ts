import { InboundError } from "../core/inbound-error.js";
import { isDeadLocalOwner, newOwnerId } from "../store/lease-owner.js";
import type { LeaseRepository } from "../store/lease-repository.js";

/**
 * Releases a held run lock. Safe to call twice. `lost` (database leases
 * only) aborts when the lock stopped being this run's (its lease could not
 * be renewed in time and may be another's now): the run must stop.
 */
export type ReleaseRunLock = (() => Promise<void>) & { lost?: AbortSignal };

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
        const signal = options.signal;
        let onAbort: (() => void) | undefined;
        try {
          await Promise.race([
            previous,
            new Promise<never>((_, reject) => {
              if (signal?.aborted) return reject(new InboundError("ABORTED"));
              onAbort = () => reject(new InboundError("ABORTED"));
              signal?.addEventListener("abort", onAbort, { once: true });
            }),
          ]);
        } catch (error) {
          release();
          // Hand the end of the queue back to the run ahead, so its release frees the account;
          // left as ours, the account would stay busy for every caller that does not wait.
          if (tails.get(accountId) === tail) {
            tails.set(accountId, previous);
            // The run ahead may have ended already (its release saw our tail and left the map alone).
            void previous.then(() => {
              if (tails.get(accountId) === previous) tails.delete(accountId);
            });
          }
          throw error;
        } finally {
          // A watch passes one signal to every run for its whole life: listeners must not pile up on it.
          if (onAbort) signal?.removeEventListener("abort", onAbort);
        }
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

/** Options for {@link createLeaseRunLock}. */
export interface LeaseRunLockOptions {
  leases: LeaseRepository;
  /** How long a lease lives without renewal; renewed every third of it. Default 30 s. */
  ttlMs?: number;
  /** How often a waiting acquire retries. Default 250 ms. */
  pollMs?: number;
  /** Least time between renewals (tests shorten it). Default 1 s. */
  renewEveryMs?: number;
}

/**
 * A run lock held in the database, so runs of one account are serialised
 * across processes and machines (CLI beside `inbound serve`, or N servers on
 * one PostgreSQL). In-process callers queue on {@link createProcessRunLock}
 * first. A holder on this machine whose process is gone (SIGKILL) is taken
 * over at once; one elsewhere only when its lease expires.
 *
 * @example
 * ```ts
 * const lock = createLeaseRunLock({ leases: store.leases });
 * ```
 */
export function createLeaseRunLock(options: LeaseRunLockOptions): RunLock {
  const ttlMs = options.ttlMs ?? 30_000;
  const pollMs = options.pollMs ?? 250;
  const renewEveryMs = options.renewEveryMs ?? 1_000;
  const local = createProcessRunLock();
  return {
    async acquire(accountId, acquireOptions = {}) {
      const releaseLocal = await local.acquire(accountId, acquireOptions);
      const owner = newOwnerId();
      try {
        for (;;) {
          const attempt = await options.leases.tryAcquire(accountId, owner, ttlMs, (holder) => isDeadLocalOwner(holder.owner));
          if (attempt.acquired) break;
          if (!acquireOptions.wait) {
            throw new InboundError("ACCOUNT_BUSY", {
              message: `Another process (${attempt.holder.owner.split("|").slice(0, 2).join(" pid ")}) is retrieving this account; wait for it to finish, or use --wait.`,
              retryable: true,
              details: { accountId, holder: attempt.holder.owner, until: attempt.holder.expiresAt },
            });
          }
          if (acquireOptions.signal?.aborted) throw new InboundError("ABORTED");
          await new Promise((r) => setTimeout(r, pollMs));
        }
      } catch (error) {
        await releaseLocal();
        throw error;
      }
      // Renewed every third of its life. A renewal that finds the lease another's, or none that
      // succeeds before it would expire, means another process may be running this account now.
      const lost = new AbortController();
      let renewedAt = Date.now();
      const renewal = setInterval(() => {
        options.leases.renew(accountId, owner, ttlMs).then(
          (held) => {
            if (held) renewedAt = Date.now();
            else lose("its lease was taken over by another process");
          },
          () => {
            if (Date.now() - renewedAt >= ttlMs) lose(`its lease could not be renewed for ${ttlMs} ms (database unreachable?)`);
          },
        );
      }, Math.max(renewEveryMs, Math.floor(ttlMs / 3)));
      renewal.unref();
      function lose(why: string): void {
        clearInterval(renewal);
        lost.abort(new InboundError("ACCOUNT_BUSY", { message: `This retrieval stopped: ${why}. Nothing it committed is lost; the next run finishes what it left.`, retryable: true, details: { accountId } }));
      }
      let released = false;
      const release = async () => {
        if (released) return;
        released = true;
        clearInterval(renewal);
        try {
          await options.leases.release(accountId, owner);
        } finally {
          await releaseLocal();
        }
      };
      return Object.assign(release, { lost: lost.signal });
    },
  };
}
