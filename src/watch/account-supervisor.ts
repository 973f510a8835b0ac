import { accountConnection } from "../retrieval/account-connection.js";
import { isImapProtocol } from "../core/account-settings.js";
import type { ErrorCode } from "../core/error-codes.js";
import { InboundError } from "../core/inbound-error.js";
import type { Logger } from "../core/logger.js";
import { openIdleListener, type IdleListener, type IdleListenerOptions } from "../protocols/imap/idle-listener.js";
import type { AccountRecord } from "../store/account-repository.js";
import { abortableSleep } from "../core/abortable-sleep.js";
import { backoffDelay } from "./backoff-delay.js";
import type { ConcurrencyGate } from "../core/concurrency-gate.js";
import type { RetrievalReason, RetrievalRunner } from "./retrieval-runner.js";
import type { WatchState, WatchStateName } from "./watch-state.js";
import type { WatchTiming } from "./watch-timing.js";

/** An account with its password opened, for the IDLE connection. */
export interface AccountCredentials {
  account: AccountRecord;
  password: string;
}

/** Options for {@link startAccountSupervisor}. */
export interface AccountSupervisorOptions {
  accountId: string;
  /** Reads the account (fresh on every attempt, so fixed settings apply) and opens its password. */
  credentials: (accountId: string) => Promise<AccountCredentials>;
  /** The account's retrievals (shared with its poll schedule). */
  runner: RetrievalRunner;
  timing: WatchTiming;
  /** Told of every state change, in order. */
  onState: (state: WatchState) => void;
  /** Limits connection attempts (connect, sign in, catch-up) running at once across watches. */
  gate?: ConcurrencyGate;
  /** Wait this long before the first attempt (startup spread). */
  initialDelayMs?: number;
  random?: () => number;
  logger?: Logger;
  /** Opens the IDLE connection; default {@link openIdleListener}. */
  openListener?: (options: IdleListenerOptions) => Promise<IdleListener>;
}

/** A running watch of one account. */
export interface AccountSupervisor {
  readonly accountId: string;
  /** The current state (a copy). */
  state(): WatchState;
  /** Resolves when the supervisor has ended (`failed` or `stopped`). */
  readonly done: Promise<void>;
  /** Stop watching: close the connection, cancel a running retrieval, clear timers, end in `stopped`. */
  close(detail?: string): Promise<void>;
}

/** How one connected period ended. */
type Ending = { kind: "lost"; reason: InboundError } | { kind: "failed"; error: InboundError } | { kind: "stopped" };

/**
 * Listener events that may come before anyone handles them (new mail or a
 * dropped connection during the catch-up): kept, and replayed on attach.
 */
interface EarlyEvents {
  attach(handlers: { newMail: () => void; closed: (reason: InboundError) => void }): void;
}

function bufferEvents(listener: IdleListener): EarlyEvents {
  let handlers: { newMail: () => void; closed: (reason: InboundError) => void } | undefined;
  let pendingNewMail = false;
  let closedReason: InboundError | undefined;
  listener.onNewMail(() => {
    if (handlers) handlers.newMail();
    else pendingNewMail = true;
  });
  listener.onClose((reason) => {
    if (handlers) handlers.closed(reason);
    else closedReason = reason;
  });
  return {
    attach(next) {
      handlers = next;
      if (closedReason) next.closed(closedReason);
      else if (pendingNewMail) next.newMail();
    },
  };
}

function asInboundError(error: unknown): InboundError {
  if (error instanceof InboundError) return error;
  // Anything uncatalogued (a database hiccup, a bug) is retried rather than ending the watch for good.
  return new InboundError("CONNECTION_FAILED", { message: error instanceof Error ? error.message : String(error), cause: error, retryable: true });
}

/**
 * The only errors that end a watch in `failed`: the account's own settings or
 * credentials are wrong, so every attempt would fail the same way until a
 * person changes the account (`failed` tells them to, then subscribe again).
 * Anything else, even when not retryable for one call (a damaged stored file,
 * a missing blob, a refused command), is not the account's fault and may pass,
 * so the watch backs off and tries again; the retrieval records each failure.
 */
const ACCOUNT_PROBLEMS: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  "IMAP_AUTH_FAILED",
  "POP3_AUTH_FAILED",
  "IMAP_FOLDER_NOT_FOUND",
  "POP3_UIDL_UNSUPPORTED",
  "TLS_CERT_UNTRUSTED",
  // The catalogue's advice for both is the account's port and security setting.
  "TLS_FAILED",
  "STARTTLS_UNSUPPORTED",
  "ACCOUNT_DISABLED",
  "ACCOUNT_NOT_FOUND",
  "CONFIG_INVALID",
  // The stored password cannot be opened with this process's keys; setting the password again fixes it.
  "SECRET_KEY_MISMATCH",
  "SECRET_KEY_UNKNOWN",
]);

/** True when retrying cannot help until the account is fixed (the thrower's `retryable` still wins). */
function isAccountProblem(error: InboundError): boolean {
  return !error.retryable && ACCOUNT_PROBLEMS.has(error.code);
}

function seconds(ms: number): string {
  return ms >= 10_000 ? `${Math.round(ms / 1000)} s` : `${(ms / 1000).toFixed(1)} s`;
}

/**
 * Watch one account until closed: connect and IDLE on its folder, fetch on
 * new mail, and keep going through failures.
 *
 * - Every (re)connect first catches up (one retrieval: everything above the
 *   checkpoint), so mail that arrived while the watch was away is fetched,
 *   once.
 * - New mail (EXISTS) asks for a retrieval; bursts share one queued run.
 * - A safety poll runs behind IDLE (`safetyPollMs`, or the account's poll
 *   interval when shorter): a NOOP proves the IDLE connection alive and a
 *   retrieval catches anything a silently dead IDLE missed.
 * - A server without IDLE, and POP3, are polled (`polling`, said in the detail).
 * - Failures go `connection_lost` → `retrying` (exponential backoff with
 *   full jitter, capped at `backoffMaxMs`) → `connecting`, forever. The
 *   backoff starts over only after a connection stayed up for
 *   `stableConnectionMs`, so a server that drops every session right after
 *   sign-in is not signed in to again and again. Only a problem with the
 *   account itself (wrong password, missing folder, untrusted certificate,
 *   disabled account; see ACCOUNT_PROBLEMS) ends in `failed`, without
 *   another attempt.
 *
 * @example
 * ```ts
 * const supervisor = startAccountSupervisor({ accountId, credentials, runner, timing: DEFAULT_WATCH_TIMING, onState: (s) => console.log(s.state, s.detail) });
 * // later
 * await supervisor.close();
 * ```
 */
export function startAccountSupervisor(options: AccountSupervisorOptions): AccountSupervisor {
  const { accountId, timing, runner } = options;
  const random = options.random ?? Math.random;
  const openListener = options.openListener ?? openIdleListener;
  const log = options.logger;
  const stopping = new AbortController();
  let stopDetail = "unsubscribed";
  let current: WatchState = { accountId, state: "connecting", detail: null, nextAttemptAt: null, errorCode: null, attempt: 0, since: new Date().toISOString() };
  let wakeConnected: ((ending: Ending) => void) | undefined;
  /** When the current attempt got as far as watching (subscribed or polling); undefined before. */
  let connectedAt: number | undefined;

  const setState = (state: WatchStateName, detail: string | null, extra: Partial<Pick<WatchState, "nextAttemptAt" | "errorCode" | "attempt">> = {}) => {
    current = { accountId, state, detail, nextAttemptAt: extra.nextAttemptAt ?? null, errorCode: extra.errorCode ?? null, attempt: extra.attempt ?? current.attempt, since: new Date().toISOString() };
    log?.debug({ accountId, state, detail }, "watch state");
    options.onState({ ...current });
  };

  /** One connected period with IDLE; resolves with how it ended. */
  const watchWithIdle = async (listener: IdleListener, early: EarlyEvents, account: AccountRecord): Promise<Ending> => {
    const safetyMs = Math.min(timing.safetyPollMs, account.pollIntervalSeconds ? account.pollIntervalSeconds * 1000 : Infinity);
    let retryAttempt = 0;
    let retryTimer: NodeJS.Timeout | undefined;
    let safetyTimer: NodeJS.Timeout | undefined;
    const ended = new Promise<Ending>((resolve) => {
      let settled = false;
      const finish = (ending: Ending) => {
        if (settled) return;
        settled = true;
        resolve(ending);
      };
      wakeConnected = finish;
      const fetch = (reason: RetrievalReason) => {
        runner.request(reason).then(
          () => {
            retryAttempt = 0;
          },
          (error: unknown) => {
            if (stopping.signal.aborted || settled) return;
            const e = asInboundError(error);
            if (e.code === "ABORTED") return;
            if (isAccountProblem(e)) return finish({ kind: "failed", error: e });
            // The IDLE connection is still up: try the retrieval again soon rather than wait for the safety poll.
            retryAttempt++;
            const delay = backoffDelay(retryAttempt, { baseMs: timing.backoffBaseMs, maxMs: timing.backoffMaxMs }, random);
            log?.warn({ accountId, err: e, delay }, "retrieval after new mail failed; trying again");
            clearTimeout(retryTimer);
            retryTimer = setTimeout(() => fetch("retry"), delay);
          },
        );
      };
      early.attach({ newMail: () => fetch("new-mail"), closed: (reason) => finish({ kind: "lost", reason }) });
      const safety = () => {
        safetyTimer = setTimeout(() => {
          listener.check().then(
            () => {
              if (settled) return;
              fetch("safety-poll");
              safety();
            },
            (error: unknown) => finish({ kind: "lost", reason: asInboundError(error) }),
          );
        }, safetyMs);
      };
      safety();
    });
    try {
      return await ended;
    } finally {
      wakeConnected = undefined;
      clearTimeout(retryTimer);
      clearTimeout(safetyTimer);
    }
  };

  /** Poll until something fails or the watch stops; resolves with how it ended. */
  const watchByPolling = async (pollMs: number): Promise<Ending> => {
    for (;;) {
      await abortableSleep(pollMs, stopping.signal);
      if (stopping.signal.aborted) return { kind: "stopped" };
      try {
        await runner.request("poll");
      } catch (error) {
        if (stopping.signal.aborted) return { kind: "stopped" };
        const e = asInboundError(error);
        return isAccountProblem(e) ? { kind: "failed", error: e } : { kind: "lost", reason: e };
      }
    }
  };

  const attemptOnce = async (): Promise<Ending> => {
    const { account, password } = await options.credentials(accountId);
    if (!account.enabled) {
      throw new InboundError("ACCOUNT_DISABLED", { message: `The account "${account.name}" is disabled; enable it and subscribe again.` });
    }
    const pollMs = account.pollIntervalSeconds ? account.pollIntervalSeconds * 1000 : timing.fallbackPollMs;
    if (!isImapProtocol(account.protocol)) {
      await runner.request("catch-up");
      connectedAt = Date.now();
      setState("polling", `POP3 has no push; polling every ${seconds(pollMs)}`, { attempt: 0 });
      return watchByPolling(pollMs);
    }
    const work = async () => {
      const listener = await openListener({ ...accountConnection(account, password, stopping.signal), folder: account.folder, maxIdleMs: timing.maxIdleMs });
      // Registered before the catch-up so nothing said during it is missed.
      const early = bufferEvents(listener);
      try {
        if (!listener.idleSupported) await listener.close();
        // Catch up before saying "subscribed": mail that came while away is fetched now, once.
        await runner.request("catch-up");
        return { listener, early };
      } catch (error) {
        await listener.close();
        throw error;
      }
    };
    const { listener, early } = options.gate ? await options.gate.run(work, stopping.signal) : await work();
    connectedAt = Date.now();
    if (!listener.idleSupported) {
      setState("polling", `the IMAP server offers no IDLE; polling "${account.folder}" every ${seconds(pollMs)}`, { attempt: 0 });
      return watchByPolling(pollMs);
    }
    try {
      if (stopping.signal.aborted) return { kind: "stopped" };
      setState("subscribed", `IDLE on "${account.folder}" at ${account.host}:${account.port}`, { attempt: 0 });
      return await watchWithIdle(listener, early, account);
    } finally {
      await listener.close();
    }
  };

  const loop = async () => {
    setState("connecting", options.initialDelayMs ? "waiting for its turn to connect (startup spread)" : null);
    if (options.initialDelayMs) await abortableSleep(options.initialDelayMs, stopping.signal);
    let failures = 0;
    while (!stopping.signal.aborted) {
      if (failures > 0) setState("connecting", `attempt ${failures + 1}`, { attempt: failures });
      connectedAt = undefined;
      let ending: Ending;
      try {
        ending = await attemptOnce();
      } catch (error) {
        if (stopping.signal.aborted) break;
        const e = asInboundError(error);
        ending = isAccountProblem(e) ? { kind: "failed", error: e } : { kind: "lost", reason: e };
        if (ending.kind === "lost" && current.state === "connecting") {
          // Never connected this time: straight to retrying, there was no connection to lose.
          failures++;
          await retryAfter(failures, e);
          continue;
        }
      }
      if (ending.kind === "stopped" || stopping.signal.aborted) break;
      // Only a connection that lasted counts as recovered: one dropped soon after sign-in keeps backing off.
      if (connectedAt !== undefined && Date.now() - connectedAt >= timing.stableConnectionMs) failures = 0;
      if (ending.kind === "failed") {
        setState("failed", `${ending.error.message} Not retrying: fix the account, then subscribe again.`, { errorCode: ending.error.code, attempt: failures });
        return;
      }
      setState("connection_lost", ending.reason.message, { errorCode: ending.reason.code, attempt: failures });
      failures++;
      await retryAfter(failures, ending.reason);
    }
    setState("stopped", stopDetail, { attempt: 0 });
  };

  const retryAfter = async (failures: number, reason: InboundError) => {
    const delay = backoffDelay(failures, { baseMs: timing.backoffBaseMs, maxMs: timing.backoffMaxMs }, random);
    const nextAttemptAt = new Date(Date.now() + delay).toISOString();
    setState("retrying", `attempt ${failures + 1} in ${seconds(delay)} after: ${reason.message}`, { nextAttemptAt, errorCode: reason.code, attempt: failures });
    await abortableSleep(delay, stopping.signal);
  };

  const done = loop().catch((error: unknown) => {
    // The loop catches per attempt; reaching here is a bug. Say so in the state rather than crash the process.
    log?.error({ err: error, accountId }, "watch supervisor crashed");
    setState("failed", `internal error: ${error instanceof Error ? error.message : String(error)}`, { errorCode: "UNEXPECTED" });
  });

  return {
    accountId,
    state: () => ({ ...current }),
    done,
    async close(detail = "unsubscribed") {
      if (!stopping.signal.aborted) {
        stopDetail = detail;
        stopping.abort();
        wakeConnected?.({ kind: "stopped" });
      }
      await done;
    },
  };
}
