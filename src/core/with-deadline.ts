import { InboundError } from "./inbound-error.js";

/** Options for {@link withDeadline}. */
export interface DeadlineOptions {
  ms: number;
  /** The error a timeout rejects with. */
  onTimeout: () => Error;
  signal?: AbortSignal;
  /** What the cancelled operation was, for the ABORTED message. */
  what?: string;
  /** Runs when the deadline or the signal ends the wait (e.g. close the connection). */
  onGiveUp?: () => void;
}

/**
 * Await `work`, but no longer than `ms` and not past `signal`: a hung server
 * never hangs the caller. The timer and the abort listener are always cleared,
 * and a late rejection of `work` is swallowed.
 *
 * @example
 * ```ts
 * await withDeadline(client.connect(), { ms: 30_000, onTimeout: () => new InboundError("CONNECTION_TIMEOUT"), signal });
 * ```
 */
export async function withDeadline<T>(work: Promise<T>, options: DeadlineOptions): Promise<T> {
  const { ms, onTimeout, signal, onGiveUp } = options;
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onGiveUp?.();
      reject(onTimeout());
    }, ms);
    if (signal) {
      onAbort = () => {
        onGiveUp?.();
        reject(new InboundError("ABORTED", { message: `${options.what ?? "The operation"} was cancelled.` }));
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    }
  });
  try {
    return await Promise.race([work, guard]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener("abort", onAbort);
    work.catch(() => undefined);
  }
}
