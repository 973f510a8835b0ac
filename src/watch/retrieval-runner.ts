import { InboundError } from "../core/inbound-error.js";
import type { RetrievalSummary } from "../retrieval/retrieve-account.js";

/** Runs one retrieval of an account (the same path as `inbound fetch`). */
export type RetrieveFn = (accountId: string, signal: AbortSignal) => Promise<RetrievalSummary>;

/** Why a retrieval was asked for; shown in logs and events. */
export type RetrievalReason = "catch-up" | "new-mail" | "safety-poll" | "poll" | "retry";

/** Options for {@link createRetrievalRunner}. */
export interface RetrievalRunnerOptions {
  accountId: string;
  retrieve: RetrieveFn;
  /** Told after every successful run. */
  onResult?: (summary: RetrievalSummary, reason: RetrievalReason) => void;
}

/**
 * One account's retrievals, one at a time, with bursts coalesced: while a
 * run is going, any number of requests share a single queued run behind it
 * (which will see everything the burst announced). Shared by the account's
 * watch and its poll schedule, so they never run the account twice at once
 * in this process; across processes the retrieval's own lease does that.
 */
export interface RetrievalRunner {
  /**
   * Ask for a run. Resolves with the summary of the run that covers this
   * request (the queued one if a run is going), rejects with its error.
   */
  request(reason: RetrievalReason): Promise<RetrievalSummary>;
  /** True while a run is going. */
  readonly busy: boolean;
  /** Cancel the running retrieval (its signal aborts), refuse new requests, wait for it to settle. */
  close(): Promise<void>;
}

/**
 * Create a {@link RetrievalRunner}.
 *
 * @example
 * ```ts
 * const runner = createRetrievalRunner({ accountId, retrieve: (id, signal) => inbound.fetch(id, { wait: true, signal }) });
 * listener.onNewMail(() => void runner.request("new-mail").catch(log));
 * await runner.close();
 * ```
 */
export function createRetrievalRunner(options: RetrievalRunnerOptions): RetrievalRunner {
  const controller = new AbortController();
  let running: Promise<RetrievalSummary> | null = null;
  let queued: Promise<RetrievalSummary> | null = null;
  let queuedReason: RetrievalReason = "new-mail";

  const start = (reason: RetrievalReason): Promise<RetrievalSummary> => {
    const run: Promise<RetrievalSummary> = (async () => {
      if (controller.signal.aborted) throw new InboundError("ABORTED", { message: "The account's watch was stopped." });
      const summary = await options.retrieve(options.accountId, controller.signal);
      options.onResult?.(summary, reason);
      return summary;
    })().finally(() => {
      if (running === run) running = null;
    });
    running = run;
    return run;
  };

  return {
    request(reason) {
      if (controller.signal.aborted) return Promise.reject(new InboundError("ABORTED", { message: "The account's watch was stopped." }));
      if (queued) return queued;
      if (running) {
        queuedReason = reason;
        const next = running.then(
          () => undefined,
          () => undefined,
        ).then(() => {
          queued = null;
          return start(queuedReason);
        });
        queued = next;
        return next;
      }
      return start(reason);
    },
    get busy() {
      return running !== null;
    },
    async close() {
      controller.abort();
      const pending = [running, queued].filter((p): p is Promise<RetrievalSummary> => p !== null);
      await Promise.allSettled(pending);
    },
  };
}
