import { newId } from "../core/ids.js";
import { InboundError } from "../core/inbound-error.js";
import type { Logger } from "../core/logger.js";
import type { Account, Inbound } from "../inbound.js";
import type { RetrievalProgress, RetrievalSummary } from "../retrieval/retrieve-account.js";
import { errorResponse } from "./http-status.js";
import type { LiveEvents } from "./live-events.js";

/** A fetch-now run as the API shows it. */
export interface RunRecord {
  id: string;
  accountId: string;
  accountName: string;
  status: "running" | "succeeded" | "failed";
  progress: RetrievalProgress | null;
  summary: RetrievalSummary | null;
  error: { code: string; message: string; details: Record<string, unknown> } | null;
  startedAt: string;
  finishedAt: string | null;
}

/** Fetch-now runs started through the API, kept in memory for a while after they end. */
export interface RunRegistry {
  /** Start a retrieval now; returns at once. ACCOUNT_BUSY when this process already runs one for the account. */
  start(account: Account): RunRecord;
  get(id: string): RunRecord | undefined;
  /** The account's run in progress, if any. */
  active(accountId: string): RunRecord | undefined;
  /** Abort running runs and wait for them. */
  close(): Promise<void>;
}

/** Options for {@link createRunRegistry}. */
export interface RunRegistryOptions {
  inbound: Pick<Inbound, "fetch" | "listMessages">;
  live: LiveEvents;
  log: Logger;
  /** Finished runs kept; default 200. */
  keep?: number;
  /** Minimum time between two `run.progress` events of one run (phase changes always go); default 250 ms. */
  progressIntervalMs?: number;
}

/**
 * Runs retrievals in the background for `POST /accounts/{id}/fetch`,
 * publishing `run.progress`, `run.finished` and `message.stored` live events.
 *
 * @example
 * ```ts
 * const runs = createRunRegistry({ inbound, live, log });
 * const run = runs.start(await inbound.getAccount("support"));
 * // later: runs.get(run.id)?.status
 * ```
 */
export function createRunRegistry(options: RunRegistryOptions): RunRegistry {
  const { inbound, live, log } = options;
  const keep = options.keep ?? 200;
  const interval = options.progressIntervalMs ?? 250;
  const runs = new Map<string, RunRecord>();
  const active = new Map<string, { promise: Promise<void>; abort: AbortController }>();

  const prune = () => {
    const finished = [...runs.values()].filter((r) => r.status !== "running");
    for (const run of finished.slice(0, Math.max(0, finished.length - keep))) runs.delete(run.id);
  };

  async function announceStored(run: RunRecord, count: number): Promise<void> {
    // The newest `count` messages of the account are the ones this run stored (ids are time-ordered).
    let remaining = Math.min(count, 500);
    let cursor: string | null = null;
    while (remaining > 0) {
      const page = await inbound.listMessages({ accountId: run.accountId, limit: Math.min(remaining, 100), cursor });
      for (const m of page.items) {
        live.publish({ type: "message.stored", accountId: run.accountId, data: { runId: run.id, messageId: m.id, subject: m.subject, from: m.from, sentDate: m.sentDate, size: m.size } });
      }
      remaining -= page.items.length;
      if (page.nextCursor === null || page.items.length === 0) break;
      cursor = page.nextCursor;
    }
  }

  return {
    start(account) {
      const running = [...runs.values()].find((r) => r.accountId === account.id && r.status === "running");
      if (running !== undefined) {
        throw new InboundError("ACCOUNT_BUSY", { message: `A retrieval of "${account.name}" is already running (run ${running.id}).`, details: { runId: running.id }, retryable: true });
      }
      const run: RunRecord = { id: newId(), accountId: account.id, accountName: account.name, status: "running", progress: null, summary: null, error: null, startedAt: new Date().toISOString(), finishedAt: null };
      runs.set(run.id, run);
      const abort = new AbortController();
      let lastSent = 0;
      const onProgress = (progress: RetrievalProgress) => {
        const phaseChanged = run.progress?.phase !== progress.phase;
        run.progress = progress;
        const now = Date.now();
        if (phaseChanged || now - lastSent >= interval) {
          lastSent = now;
          live.publish({ type: "run.progress", accountId: run.accountId, data: { runId: run.id, ...progress } });
        }
      };
      const promise = (async () => {
        try {
          const summary = await inbound.fetch(account.id, { onProgress, signal: abort.signal });
          run.summary = summary;
          run.status = "succeeded";
          if (summary.stored > 0) await announceStored(run, summary.stored).catch((error: unknown) => log.warn({ err: error }, "announcing stored messages failed"));
        } catch (error) {
          run.status = "failed";
          const { body } = errorResponse(error);
          run.error = { code: body.code, message: body.message, details: body.details };
          if (body.code === "INTERNAL") log.error({ err: error, runId: run.id }, "fetch run failed");
        } finally {
          run.finishedAt = new Date().toISOString();
          active.delete(run.id);
          live.publish({ type: "run.finished", accountId: run.accountId, data: { runId: run.id, status: run.status, summary: run.summary, error: run.error } });
          prune();
        }
      })();
      active.set(run.id, { promise, abort });
      return run;
    },
    get: (id) => runs.get(id),
    active: (accountId) => [...runs.values()].find((r) => r.accountId === accountId && r.status === "running"),
    async close() {
      for (const { abort } of active.values()) abort.abort();
      await Promise.allSettled([...active.values()].map((a) => a.promise));
    },
  };
}
