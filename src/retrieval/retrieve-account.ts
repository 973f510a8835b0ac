import { InboundError } from "../core/inbound-error.js";
import { appendOutbox } from "../store/append-outbox.js";
import type { AccountRecord } from "../store/account-repository.js";
import type { TakenMessage } from "../store/message-repository.js";
import type { Store } from "../store/store.js";
import type { MessageProcessor, ProcessResult } from "./message-processor.js";
import type { RunLock } from "./run-lock.js";
import { retrieveImap } from "./imap-retrieval.js";
import { retrievePop3 } from "./pop3-retrieval.js";

/** What one retrieval did, as `inbound fetch --json` prints it. */
export interface RetrievalSummary {
  /** Messages whose bytes were downloaded in this run. */
  fetched: number;
  /** New messages stored (raw kept, checkpointed). */
  stored: number;
  /** Downloaded messages that were already stored (e.g. after a crash before the after-action). */
  duplicates: number;
  /** Stored messages whose MIME could not be parsed (kept raw and flagged). */
  parseErrors: number;
  /** Messages deleted, moved or marked seen on the server. */
  postActions: number;
  durationMs: number;
  /** Time until every message was durably taken (stored, checkpointed, after-action done). */
  takenMs: number;
}

/** Live progress for CLI bars and the admin page. */
export interface RetrievalProgress {
  phase: "connecting" | "planning" | "taking" | "processing" | "done";
  /** Messages planned for this run. */
  total: number;
  taken: number;
  processed: number;
}

/** Everything a retrieval needs, built once in the composition root. */
export interface RetrievalDeps {
  store: Store;
  processor: MessageProcessor;
  lock: RunLock;
}

/** Options of one run. */
export interface RetrieveOptions {
  signal?: AbortSignal;
  onProgress?: (progress: RetrievalProgress) => void;
  /** Wait for a running retrieval of the same account instead of failing with ACCOUNT_BUSY. */
  wait?: boolean;
}

/** The protocol-specific half of a run: plan, take in batches, commit, after-action. */
export interface ProtocolRun {
  account: AccountRecord;
  password: string;
  store: Store;
  signal?: AbortSignal;
  /** Commit a batch of taken messages; returns ids of new rows and the duplicate count. */
  commit(rows: TakenMessage[], extra?: (trx: Parameters<Parameters<Store["transaction"]>[0]>[0]) => Promise<void>): Promise<{ inserted: string[]; duplicates: number }>;
  progress(update: Partial<RetrievalProgress>): void;
  counters: Pick<RetrievalSummary, "fetched" | "stored" | "duplicates" | "postActions">;
}

/**
 * Run one retrieval of `account` with its settings: take new messages off
 * the server in batches (each batch stored in one transaction, then the
 * after-action), parse them off the main thread, and summarise.
 *
 * Nothing is deleted or moved on the server before the batch holding it has
 * committed; a message already stored is never stored again.
 *
 * @example
 * ```ts
 * const summary = await retrieveAccount(deps, account, password, { onProgress: console.log });
 * console.log(summary.stored);
 * ```
 */
export async function retrieveAccount(deps: RetrievalDeps, account: AccountRecord, password: string, options: RetrieveOptions = {}): Promise<RetrievalSummary> {
  if (!account.enabled) throw new InboundError("ACCOUNT_DISABLED", { message: `The account "${account.name}" is disabled; enable it with \`inbound accounts update ${account.name} --enabled\` before fetching.` });
  const release = await deps.lock.acquire(account.id, { wait: options.wait, signal: options.signal });
  // The run stops when its caller cancels it or when its lock stops being its own.
  const stops = [options.signal, release.lost].filter((stop): stop is AbortSignal => stop !== undefined);
  const signal = stops.length === 0 ? undefined : AbortSignal.any(stops);
  const started = Date.now();
  const progress: RetrievalProgress = { phase: "connecting", total: 0, taken: 0, processed: 0 };
  const report = (update: Partial<RetrievalProgress>) => {
    Object.assign(progress, update);
    options.onProgress?.({ ...progress });
  };
  const counters = { fetched: 0, stored: 0, duplicates: 0, postActions: 0 };
  const processing: Array<Promise<ProcessResult>> = [];
  const { store } = deps;
  let takenMs = 0;
  try {
    report({});
    // Messages an interrupted run stored but never parsed: finish them beside this run.
    processing.push(deps.processor.processPending(async () => account, account.id));
    // Parsing runs beside the next batch's download; its results are awaited at the end.
    // A function of its own, so the pending promise's callbacks do not keep a batch's rows alive.
    const startProcessing = (ids: string[]): void => {
      const work = deps.processor.process(account, ids);
      work.then((r) => report({ processed: progress.processed + r.parsed }), () => undefined);
      processing.push(work);
    };
    const run: ProtocolRun = {
      account,
      password,
      store,
      signal,
      counters,
      progress: report,
      async commit(rows, extra) {
        const result = await store.transaction(async (trx) => {
          const r = await store.messages.insertTaken(trx, rows);
          if (extra) await extra(trx);
          return r;
        });
        counters.stored += result.inserted.length;
        counters.duplicates += result.duplicates;
        if (result.inserted.length > 0) startProcessing(result.inserted);
        return result;
      },
    };
    // Parsing slows down while this run takes mail: taking is what makes it safe to delete.
    const doneTaking = deps.processor.taking();
    try {
      if (account.protocol === "imap" || account.protocol === "imaps") await retrieveImap(run);
      else await retrievePop3(run);
    } finally {
      doneTaking();
    }
    takenMs = Date.now() - started;
    report({ phase: "processing" });
    const results = await Promise.all(processing);
    const parseErrors = results.reduce((n, r) => n + r.parseErrors, 0);
    report({ phase: "done" });
    const summary: RetrievalSummary = { ...counters, parseErrors, durationMs: Date.now() - started, takenMs };
    await store.accounts.recordRun(account.id, { at: new Date(), error: null });
    await store.transaction(async (trx) => {
      await store.events.append(trx, { accountId: account.id, type: "retrieval.completed", level: "info", message: `Stored ${summary.stored} new message(s), ${summary.duplicates} already stored, ${summary.parseErrors} parse error(s).`, data: { ...summary } });
      await appendOutbox(trx, { accountId: account.id, type: "retrieval.completed", payload: { ...summary } });
    });
    return summary;
  } catch (caught) {
    // A run stopped because its lock was lost says so, not just "cancelled".
    const error: unknown = release.lost?.aborted && !options.signal?.aborted ? release.lost.reason : caught;
    // Messages committed before the failure stay committed; let their parsing finish.
    await Promise.allSettled(processing);
    const message = error instanceof Error ? error.message : String(error);
    await store.accounts.recordRun(account.id, { at: new Date(), error: message }).catch(() => undefined);
    const failed = { code: error instanceof InboundError ? error.code : "UNKNOWN", ...counters };
    await store
      .transaction(async (trx) => {
        await store.events.append(trx, { accountId: account.id, type: "retrieval.failed", level: "error", message, data: failed });
        await appendOutbox(trx, { accountId: account.id, type: "retrieval.failed", payload: { message, ...failed } });
      })
      .catch(() => undefined);
    throw error;
  } finally {
    await release();
  }
}

/** Split `items` into chunks of `size`. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
