/**
 * Wait `ms`, or less when `signal` aborts (then resolves, never rejects:
 * a stopping loop just checks its own flag). The timer is always cleared.
 *
 * @example
 * ```ts
 * await abortableSleep(5_000, controller.signal);
 * if (controller.signal.aborted) return;
 * ```
 */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted === true || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
