/**
 * Where an account's watch is:
 * - `connecting`: opening the IDLE connection and catching up;
 * - `subscribed`: in IDLE on the folder, new mail is fetched as it arrives;
 * - `polling`: the server has no IDLE (or the account is POP3), so the watch polls; the detail says how often;
 * - `connection_lost`: the connection ended; a retry follows;
 * - `retrying`: waiting until `nextAttemptAt` before the next attempt;
 * - `failed`: stopped on an error retrying cannot fix (e.g. a wrong password); the detail says which;
 * - `stopped`: unsubscribed or shut down.
 */
export type WatchStateName = "connecting" | "subscribed" | "polling" | "connection_lost" | "retrying" | "failed" | "stopped";

/** A watch's state as shown in `accounts.state`, events, the outbox and metrics. */
export interface WatchState {
  accountId: string;
  state: WatchStateName;
  /** Plain words: what it watches, why the connection ended, why it failed. */
  detail: string | null;
  /** When `retrying`: when the next attempt starts (ISO-8601 UTC). */
  nextAttemptAt: string | null;
  /** Catalogued error code behind `connection_lost`, `retrying` and `failed`. */
  errorCode: string | null;
  /** Consecutive failed attempts (0 once connected). */
  attempt: number;
  /** When this state began (ISO-8601 UTC). */
  since: string;
}

/** States in which a watch is over and does nothing until started again. */
export function isFinalWatchState(state: WatchStateName): boolean {
  return state === "failed" || state === "stopped";
}
