import type { Logger } from "../core/logger.js";
import { abortableSleep } from "../core/abortable-sleep.js";
import type { RetrievalRunner } from "./retrieval-runner.js";

/** Options for {@link startPollSchedule}. */
export interface PollScheduleOptions {
  accountId: string;
  runner: RetrievalRunner;
  intervalMs: number;
  /** Delay before the first run (spreads many schedules over the interval). */
  firstDelayMs: number;
  logger?: Logger;
}

/** A running poll schedule of one account. */
export interface PollSchedule {
  readonly accountId: string;
  readonly intervalMs: number;
  /** When the next run starts (ISO-8601 UTC), or null while one is running. */
  nextRunAt(): string | null;
  /** Stop: the timer is cleared; a running retrieval is left to the runner's owner to cancel. */
  close(): Promise<void>;
}

/**
 * Run the account's retrieval every `intervalMs`, measured from the end of
 * one run to the start of the next, so runs never overlap. A failed run is
 * logged (the retrieval itself records `retrieval.failed` in the event log)
 * and the schedule goes on.
 *
 * @example
 * ```ts
 * const schedule = startPollSchedule({ accountId, runner, intervalMs: 300_000, firstDelayMs: Math.random() * 300_000 });
 * await schedule.close();
 * ```
 */
export function startPollSchedule(options: PollScheduleOptions): PollSchedule {
  const stopping = new AbortController();
  let next: number | null = Date.now() + options.firstDelayMs;
  const loop = async () => {
    let delay = options.firstDelayMs;
    while (!stopping.signal.aborted) {
      next = Date.now() + delay;
      await abortableSleep(delay, stopping.signal);
      if (stopping.signal.aborted) return;
      next = null;
      try {
        await options.runner.request("poll");
      } catch (error) {
        if (!stopping.signal.aborted) options.logger?.warn({ err: error, accountId: options.accountId }, "scheduled retrieval failed");
      }
      delay = options.intervalMs;
    }
  };
  const done = loop();
  return {
    accountId: options.accountId,
    intervalMs: options.intervalMs,
    nextRunAt: () => (next === null ? null : new Date(next).toISOString()),
    async close() {
      stopping.abort();
      await done;
    },
  };
}
