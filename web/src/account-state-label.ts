import type { Account, AccountState, Run, WatchState } from "./api-types";
import { shortReason } from "./plain-words";

/** How an account's state reads in the overview, and its tone for the badge. */
export interface StateLabel {
  text: string;
  tone: "ok" | "busy" | "warn" | "error" | "idle";
}

function seconds(until: string | null, now: number): number | null {
  if (!until) return null;
  return Math.max(0, Math.ceil((new Date(until).getTime() - now) / 1000));
}

function watchLabel(watch: WatchState, now: number): StateLabel {
  switch (watch.state) {
    case "subscribed":
      return { text: "subscribed", tone: "ok" };
    case "polling":
      return { text: "subscribed (polling)", tone: "ok" };
    case "connecting":
      return { text: "connecting…", tone: "busy" };
    case "connection_lost":
    case "retrying": {
      const wait = seconds(watch.nextAttemptAt, now);
      const why = watch.errorCode ? ` (${shortReason(watch.errorCode, watch.detail)})` : "";
      return { text: wait === null ? `retrying${why}` : `retrying in ${wait} s${why}`, tone: "warn" };
    }
    case "failed":
      return { text: `failed: ${shortReason(watch.errorCode, watch.detail)}`, tone: "error" };
    case "stopped":
      return { text: "stopped", tone: "idle" };
  }
}

/**
 * The overview's state column: a running fetch first, then the watch, then
 * the account's stored state.
 *
 * @example
 * ```ts
 * stateLabel(account, state, run).text; // "retrying in 40 s (authentication)"
 * ```
 */
export function stateLabel(account: Account, state: AccountState | null, run: Run | null, now = Date.now()): StateLabel {
  if (run && run.status === "running") {
    const p = run.progress;
    if (!p || p.phase === "connecting" || p.phase === "planning") return { text: "fetching: connecting…", tone: "busy" };
    return { text: `fetching: ${p.taken}/${p.total} taken`, tone: "busy" };
  }
  if (!account.enabled) return { text: "disabled", tone: "idle" };
  const watch = state?.subscription?.watch ?? null;
  if (watch) return watchLabel(watch, now);
  if (state?.subscription?.subscribed) return { text: "subscribed (other process)", tone: "ok" };
  if (account.state === "error" || account.lastError) return { text: `failed: ${account.lastError ?? account.stateDetail ?? "error"}`, tone: "error" };
  if (account.state === "running") return { text: "fetching…", tone: "busy" };
  return { text: "not subscribed", tone: "idle" };
}
