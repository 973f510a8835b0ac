import type { Logger } from "../core/logger.js";
import type { IdleListener, IdleListenerOptions } from "../protocols/imap/idle-listener.js";
import type { RetrievalSummary } from "../retrieval/retrieve-account.js";
import type { AccountRecord } from "../store/account-repository.js";
import { isDeadLocalOwner, newOwnerId } from "../store/lease-owner.js";
import type { Store } from "../store/store.js";
import { startAccountSupervisor, type AccountCredentials, type AccountSupervisor } from "./account-supervisor.js";
import { createConcurrencyGate } from "../core/concurrency-gate.js";
import { startPollSchedule, type PollSchedule } from "./poll-schedule.js";
import { createRetrievalRunner, type RetrievalReason, type RetrievalRunner, type RetrieveFn } from "./retrieval-runner.js";
import { isFinalWatchState, type WatchState } from "./watch-state.js";
import { createWatchStateRecorder } from "./watch-state-recorder.js";
import { DEFAULT_WATCH_TIMING, type WatchTiming } from "./watch-timing.js";

/** Options for {@link createWatchManager}. */
export interface WatchManagerOptions {
  store: Store;
  /** One retrieval of an account, the same path as `inbound fetch`; should wait for a running one (`wait: true`). */
  retrieve: RetrieveFn;
  /** The account and its opened password, for the IDLE connection. */
  credentials: (accountId: string) => Promise<AccountCredentials>;
  /** Shorter delays for tests; the rest from {@link DEFAULT_WATCH_TIMING}. */
  timing?: Partial<WatchTiming>;
  logger?: Logger;
  /** Source of jitter; default Math.random. */
  random?: () => number;
  /** Opens IDLE connections; default `openIdleListener` from the IMAP layer. */
  openListener?: (options: IdleListenerOptions) => Promise<IdleListener>;
  /**
   * How long this process's claim on a watched or polled account lives without renewal
   * (renewed on every refresh); default 30 s. When a process dies, another one takes
   * its accounts over after this, or at once if it ran on the same machine.
   */
  leaseTtlMs?: number;
}

/** What {@link WatchManager.subscribe} did. */
export interface SubscribeResult {
  accountId: string;
  /** False when the account already was subscribed. */
  created: boolean;
  /** True when a watch was started now (false: one was already running). */
  started: boolean;
}

/** A poll schedule as shown for metrics. */
export interface PollScheduleState {
  accountId: string;
  intervalSeconds: number;
  nextRunAt: string | null;
}

/** A finished retrieval, for listeners (the foreground `inbound watch`, benchmarks, metrics). */
export interface RetrievalEvent {
  accountId: string;
  reason: RetrievalReason;
  summary: RetrievalSummary;
}

/**
 * The supervisor of supervisors: which accounts are watched (persisted
 * subscriptions), the poll schedules, startup spread, and shutdown.
 */
export interface WatchManager {
  /**
   * Persist a subscription and start watching (IDLE, or polling where the
   * server has none). Idempotent: a running watch is left alone; a watch
   * that ended in `failed` is started again (e.g. after fixing the password).
   */
  subscribe(nameOrId: string): Promise<SubscribeResult>;
  /** Remove the subscription and stop the watch and its polling. A no-op for an account that is not subscribed. */
  unsubscribe(nameOrId: string): Promise<{ accountId: string; removed: boolean }>;
  /** Watch an account without persisting a subscription (`inbound watch`); idempotent like subscribe. */
  watch(nameOrId: string): Promise<void>;
  /**
   * Start every persisted subscription and every poll schedule, spread out
   * over time, and keep following changes made elsewhere (another process's
   * `inbound subscribe`, a changed poll interval) every `refreshMs`.
   */
  resumeAll(): Promise<void>;
  /** Reconcile once with the database now. */
  refresh(): Promise<void>;
  /** Every watch's state. */
  states(): WatchState[];
  /** Every poll schedule of an account that is not watched. */
  schedules(): PollScheduleState[];
  /** Listen to state changes; returns an unsubscribe function. */
  onStateChange(listener: (state: WatchState) => void): () => void;
  /** Listen to finished retrievals; returns an unsubscribe function. */
  onRetrieval(listener: (event: RetrievalEvent) => void): () => void;
  /** Stop every watch and schedule, cancel running retrievals, clear timers, write the last states. */
  close(): Promise<void>;
}

interface WatchEntry {
  supervisor: AccountSupervisor;
  runner: RetrievalRunner;
  /** Subscription's requestedAt when started; null for a foreground (unpersisted) watch. */
  requestedAt: string | null;
  /** Stop writing this watch's states to the database (they are still told to listeners). */
  stopRecording(): void;
  /** The {@link connectionSettings} its last connection was opened with; undefined before the first. */
  connectedWith(): string | undefined;
}

/**
 * What a watch's connection was opened with: where, how, as whom, which
 * folder. A watch connected with other values than the account has now
 * (`accounts update` while it runs) is started again.
 */
function connectionSettings(account: AccountRecord): string {
  return JSON.stringify([account.protocol, account.host, account.port, account.security, account.tlsVerify, account.tlsCa, account.username, account.folder, account.timeoutMs]);
}

interface ScheduleEntry {
  schedule: PollSchedule;
  runner: RetrievalRunner;
}

/**
 * Create a {@link WatchManager}. Nothing runs until `subscribe`, `watch` or
 * `resumeAll` is called; `close()` stops everything.
 *
 * Polling schedule: every enabled account with `pollIntervalSeconds` that
 * is not watched is retrieved on that interval (POP3 and IMAP alike). A
 * watched account is polled by its watch instead (safety poll, or polling
 * when there is no IDLE), so an account is never run twice at once here;
 * across processes the retrieval's lease serialises runs.
 *
 * @example
 * ```ts
 * const watches = createWatchManager({
 *   store: inbound.store,
 *   retrieve: (id, signal) => inbound.fetch(id, { wait: true, signal }),
 *   credentials: accountCredentials(inbound.store, box),
 *   logger,
 * });
 * await watches.resumeAll();
 * await watches.subscribe("support");
 * console.log(watches.states());
 * await watches.close();
 * ```
 */
export function createWatchManager(options: WatchManagerOptions): WatchManager {
  const timing: WatchTiming = { ...DEFAULT_WATCH_TIMING, ...options.timing };
  const random = options.random ?? Math.random;
  const log = options.logger;
  const { store } = options;
  const recorder = createWatchStateRecorder(store, log);
  const gate = createConcurrencyGate(timing.connectConcurrency);
  const watches = new Map<string, WatchEntry>();
  const schedules = new Map<string, ScheduleEntry>();
  const stateListeners = new Set<(state: WatchState) => void>();
  const retrievalListeners = new Set<(event: RetrievalEvent) => void>();
  // Several processes on one database split the accounts: each subscription and poll schedule
  // runs where its watch lease is held (DESIGN: scale-out through the database, no cluster protocol).
  const owner = newOwnerId();
  const leaseTtlMs = options.leaseTtlMs ?? 30_000;
  const claim = async (accountId: string) =>
    (await store.watchLeases.tryAcquire(accountId, owner, leaseTtlMs, (holder) => isDeadLocalOwner(holder.owner))).acquired;
  const unclaim = (accountId: string) => store.watchLeases.release(accountId, owner).catch((error: unknown) => log?.warn({ err: error, accountId }, "releasing a watch lease failed"));
  let refreshTimer: NodeJS.Timeout | undefined;
  let refreshing: Promise<void> | undefined;
  let closed = false;
  // Starting and stopping an account's watch or schedule awaits (the lease, a retrieval that is
  // slow to stop), and subscribe, unsubscribe, watch, the periodic refresh and close can all
  // reach the same account meanwhile: each account's operations run one after another here, so
  // two of them never both find "no watch" and start one each.
  const accountChains = new Map<string, Promise<void>>();
  const serially = <T>(accountId: string, operation: () => Promise<T>): Promise<T> => {
    const result = (accountChains.get(accountId) ?? Promise.resolve()).then(operation);
    const chain = result.then(
      () => undefined,
      () => undefined,
    );
    accountChains.set(accountId, chain);
    void chain.then(() => {
      if (accountChains.get(accountId) === chain) accountChains.delete(accountId);
    });
    return result;
  };

  const newRunner = (accountId: string) =>
    createRetrievalRunner({
      accountId,
      retrieve: options.retrieve,
      onResult: (summary, reason) => {
        for (const listener of [...retrievalListeners]) listener({ accountId, reason, summary });
      },
    });

  /** Only where the account has no entry: replacing one would orphan its supervisor, an IDLE connection nothing can close. */
  const startWatch = (accountId: string, requestedAt: string | null, initialDelayMs: number) => {
    const runner = newRunner(accountId);
    let recording = true;
    let connectedWith: string | undefined;
    const supervisor = startAccountSupervisor({
      accountId,
      // The supervisor reads the account at every (re)connection: note what it connects with.
      credentials: async (id) => {
        const credentials = await options.credentials(id);
        connectedWith = connectionSettings(credentials.account);
        return credentials;
      },
      runner,
      timing,
      gate,
      initialDelayMs,
      random,
      logger: log,
      openListener: options.openListener,
      onState: (state) => {
        if (recording) recorder.record(state);
        for (const listener of [...stateListeners]) listener(state);
      },
    });
    watches.set(accountId, {
      supervisor,
      runner,
      requestedAt,
      stopRecording: () => {
        recording = false;
      },
      connectedWith: () => connectedWith,
    });
  };

  /** Stop the account's watch. `keepLease` keeps this process's claim; `record: false` leaves the account's state to whoever watches it now. */
  const stopWatch = async (accountId: string, detail: string, { keepLease = false, record = true } = {}) => {
    const entry = watches.get(accountId);
    if (!entry) return;
    watches.delete(accountId);
    if (!record) entry.stopRecording();
    await Promise.all([entry.supervisor.close(detail), entry.runner.close()]);
    // Callers (unsubscribe, close) resolve once `stopped` is on record.
    await recorder.flush(accountId);
    if (!keepLease && entry.requestedAt !== null) await unclaim(accountId);
  };

  const stopSchedule = async (accountId: string, keepLease = false) => {
    const entry = schedules.get(accountId);
    if (!entry) return;
    schedules.delete(accountId);
    await Promise.all([entry.schedule.close(), entry.runner.close()]);
    if (!keepLease) await unclaim(accountId);
  };

  /**
   * Start a watch unless one is running; a finished one (failed) is replaced. True when one was started.
   * Call only inside `serially(accountId, ...)`.
   */
  const ensureWatchNow = async (accountId: string, requestedAt: string | null, initialDelayMs = 0): Promise<boolean> => {
    if (closed) return false;
    const existing = watches.get(accountId);
    if (existing && !isFinalWatchState(existing.supervisor.state().state)) {
      if (requestedAt !== null) existing.requestedAt = requestedAt;
      return false;
    }
    // A persisted subscription runs only where its lease is held; `inbound watch` (requestedAt null) watches regardless.
    if (requestedAt !== null && !existing && !schedules.has(accountId) && !(await claim(accountId))) return false;
    if (existing) await stopWatch(accountId, "restarting", { keepLease: true });
    // A watched account is polled by its watch, not by the schedule.
    await stopSchedule(accountId, true);
    // close() may have begun while we waited; it stops only what is in the map when it looks.
    if (closed) {
      if (requestedAt !== null) await unclaim(accountId);
      return false;
    }
    // Never replace a live entry, even if something reached this account outside its turn.
    if (watches.has(accountId)) return false;
    startWatch(accountId, requestedAt, initialDelayMs);
    return true;
  };
  const ensureWatch = (accountId: string, requestedAt: string | null, initialDelayMs = 0) => serially(accountId, () => ensureWatchNow(accountId, requestedAt, initialDelayMs));

  const spread = (count: number) => (count <= 1 ? 0 : Math.min(timing.startupSpreadMaxMs, count * timing.startupSpacingMs));

  const refresh = async () => {
    if (closed) return;
    const [subscriptions, accounts] = await Promise.all([store.subscriptions.list(), store.accounts.list()]);
    if (closed) return;
    const byId = new Map<string, AccountRecord>(accounts.map((a) => [a.id, a]));
    const subscribed = new Set(subscriptions.map((s) => s.accountId));

    // Renew this process's claims; whatever another process took over (our lease expired) stops here.
    // Each step below runs in the account's turn and acts only if what it decided on is still there.
    const held = await store.watchLeases.renewAll(owner, leaseTtlMs);
    for (const [accountId, entry] of [...watches]) {
      if (entry.requestedAt === null || held.has(accountId)) continue;
      // The holder writes the account's state; a "stopped" from here could land after its "subscribed".
      await serially(accountId, async () => {
        if (watches.get(accountId) === entry) await stopWatch(accountId, "watched by another process", { keepLease: true, record: false });
      });
    }
    for (const [accountId, entry] of [...schedules]) {
      if (held.has(accountId)) continue;
      await serially(accountId, async () => {
        if (schedules.get(accountId) === entry) await stopSchedule(accountId, true);
      });
    }

    // Watches whose subscription is gone (unsubscribed by another process, account removed) or whose account was disabled.
    for (const [accountId, entry] of [...watches]) {
      const detail = entry.requestedAt !== null && !subscribed.has(accountId) ? "unsubscribed" : byId.get(accountId)?.enabled === false ? "account disabled" : null;
      if (detail === null) continue;
      await serially(accountId, async () => {
        if (watches.get(accountId) === entry) await stopWatch(accountId, detail);
      });
    }
    // Watches whose account was updated to connect elsewhere or otherwise (an IDLE session keeps
    // its connection's settings): start again, with the new ones.
    for (const [accountId, entry] of [...watches]) {
      const account = byId.get(accountId);
      if (account === undefined || isFinalWatchState(entry.supervisor.state().state)) continue;
      const connectedWith = entry.connectedWith();
      if (connectedWith === undefined || connectedWith === connectionSettings(account)) continue;
      await serially(accountId, async () => {
        if (closed || watches.get(accountId) !== entry) return;
        await stopWatch(accountId, "restarting with the account's new settings", { keepLease: true });
        if (!closed && !watches.has(accountId)) startWatch(accountId, entry.requestedAt, 0);
      });
    }
    // New subscriptions, and failed watches subscribed again since.
    const toStart = subscriptions.filter((s) => {
      const existing = watches.get(s.accountId);
      return !existing || (isFinalWatchState(existing.supervisor.state().state) && existing.requestedAt !== null && s.requestedAt > existing.requestedAt);
    });
    const window = spread(toStart.length);
    for (const s of toStart) {
      if (byId.get(s.accountId)?.enabled !== true) continue;
      const initialDelayMs = Math.floor(random() * window);
      await serially(s.accountId, async () => {
        // Read again in the account's turn: an unsubscribe that ran meanwhile must not be undone.
        const current = await store.subscriptions.find(s.accountId);
        if (current) await ensureWatchNow(s.accountId, current.requestedAt, initialDelayMs);
      });
    }

    // Poll schedules: enabled, with an interval, not watched.
    for (const [accountId, entry] of [...schedules]) {
      const account = byId.get(accountId);
      const wanted = account && account.enabled && account.pollIntervalSeconds && !watches.has(accountId);
      if (wanted && entry.schedule.intervalMs === account.pollIntervalSeconds! * 1000) continue;
      await serially(accountId, async () => {
        if (schedules.get(accountId) === entry) await stopSchedule(accountId);
      });
    }
    for (const account of accounts) {
      if (!account.enabled || !account.pollIntervalSeconds || watches.has(account.id) || schedules.has(account.id)) continue;
      await serially(account.id, async () => {
        if (closed || watches.has(account.id) || schedules.has(account.id) || !(await claim(account.id))) return;
        // A subscribe may have started a watch while we claimed; the watch polls it then.
        if (closed || watches.has(account.id) || schedules.has(account.id)) return;
        const intervalMs = account.pollIntervalSeconds! * 1000;
        const runner = newRunner(account.id);
        // Spread over one interval, so hundreds of schedules never fire in the same second.
        const schedule = startPollSchedule({ accountId: account.id, runner, intervalMs, firstDelayMs: Math.floor(random() * intervalMs), logger: log });
        schedules.set(account.id, { schedule, runner });
      });
    }
  };

  const serialRefresh = () => {
    // One reconcile at a time; overlapping calls share the running one's successor.
    const run = (refreshing ?? Promise.resolve()).then(refresh, refresh);
    refreshing = run.finally(() => {
      if (refreshing === run) refreshing = undefined;
    }).catch(() => undefined);
    return run;
  };

  const scheduleRefresh = () => {
    if (closed) return;
    refreshTimer = setTimeout(() => {
      serialRefresh()
        .catch((error: unknown) => log?.warn({ err: error }, "re-reading subscriptions failed"))
        .finally(scheduleRefresh);
    }, timing.refreshMs);
  };

  return {
    async subscribe(nameOrId) {
      const account = await store.accounts.get(nameOrId);
      const { subscription, created } = await store.subscriptions.subscribe(account.id);
      const started = closed ? false : await ensureWatch(account.id, subscription.requestedAt);
      return { accountId: account.id, created, started };
    },
    async unsubscribe(nameOrId) {
      const account = await store.accounts.get(nameOrId);
      const { removed } = await store.subscriptions.unsubscribe(account.id);
      await serially(account.id, async () => {
        const entry = watches.get(account.id);
        if (entry && entry.requestedAt !== null) await stopWatch(account.id, "unsubscribed");
      });
      return { accountId: account.id, removed };
    },
    async watch(nameOrId) {
      if (closed) return;
      const account = await store.accounts.get(nameOrId);
      await ensureWatch(account.id, null);
    },
    async resumeAll() {
      await serialRefresh();
      if (refreshTimer === undefined) scheduleRefresh();
    },
    refresh: () => serialRefresh(),
    states: () => [...watches.values()].map((e) => e.supervisor.state()),
    schedules: () => [...schedules.values()].map((e) => ({ accountId: e.schedule.accountId, intervalSeconds: e.schedule.intervalMs / 1000, nextRunAt: e.schedule.nextRunAt() })),
    onStateChange(listener) {
      stateListeners.add(listener);
      return () => stateListeners.delete(listener);
    },
    onRetrieval(listener) {
      retrievalListeners.add(listener);
      return () => retrievalListeners.delete(listener);
    },
    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(refreshTimer);
      await refreshing;
      // Operations already under way finish first (seeing `closed`, they start nothing), so nothing starts after the stop below.
      await Promise.all([...accountChains.values()]);
      await Promise.all([...[...watches.keys()].map((id) => stopWatch(id, "service stopped")), ...[...schedules.keys()].map((id) => stopSchedule(id))]);
      await recorder.flush();
    },
  };
}
