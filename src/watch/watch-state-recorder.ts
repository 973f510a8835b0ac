import type { Logger } from "../core/logger.js";
import { appendOutbox } from "../store/append-outbox.js";
import type { EventLevel } from "../store/schema.js";
import type { Store } from "../store/store.js";
import type { WatchState } from "./watch-state.js";

/** Persists watch states; writes of one account keep their order. */
export interface WatchStateRecorder {
  /** Queue the write of `state`; never rejects (a failed write is logged). */
  record(state: WatchState): void;
  /** Wait until every queued write (of one account, when given) is done. */
  flush(accountId?: string): Promise<void>;
}

const LEVELS: Record<WatchState["state"], EventLevel> = {
  connecting: "info",
  subscribed: "info",
  polling: "info",
  connection_lost: "warn",
  retrying: "warn",
  failed: "error",
  stopped: "info",
};

function describe(state: WatchState): string {
  const detail = state.detail ? `: ${state.detail}` : "";
  return `Watch ${state.state.replace("_", " ")}${detail}`;
}

/**
 * Record each state change the way users and applications see it, in one
 * transaction: `accounts.state`/`state_detail`, an `account.state_changed`
 * row in the event log, and the same event in the outbox for handlers and
 * webhooks (`{ state, detail, nextAttemptAt }`).
 *
 * @example
 * ```ts
 * const recorder = createWatchStateRecorder(store, logger);
 * recorder.record(state);
 * await recorder.flush();
 * ```
 */
export function createWatchStateRecorder(store: Store, logger?: Logger): WatchStateRecorder {
  const tails = new Map<string, Promise<void>>();
  return {
    record(state) {
      const previous = tails.get(state.accountId) ?? Promise.resolve();
      const write = previous.then(() =>
        store.transaction(async (trx) => {
          await store.accounts.setState(state.accountId, state.state, state.detail, trx);
          const data = { state: state.state, detail: state.detail, nextAttemptAt: state.nextAttemptAt, errorCode: state.errorCode, attempt: state.attempt };
          await store.events.append(trx, { accountId: state.accountId, type: "account.state_changed", level: LEVELS[state.state], message: describe(state), data });
          await appendOutbox(trx, { accountId: state.accountId, type: "account.state_changed", payload: { state: state.state, detail: state.detail, nextAttemptAt: state.nextAttemptAt } });
        }),
      ).catch((error: unknown) => {
        // An account removed while watched ends up here (ACCOUNT_NOT_FOUND); its watch is stopped by the manager.
        logger?.warn({ err: error, accountId: state.accountId, state: state.state }, "could not record the watch state");
      });
      tails.set(state.accountId, write);
      void write.then(() => {
        if (tails.get(state.accountId) === write) tails.delete(state.accountId);
      });
    },
    async flush(accountId) {
      await (accountId === undefined ? Promise.all([...tails.values()]) : tails.get(accountId));
    },
  };
}
