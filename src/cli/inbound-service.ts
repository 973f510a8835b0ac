import { createInbound, type Inbound, type InboundOptions } from "../inbound.js";
import { silentLogger, type Logger } from "../core/logger.js";
import { createLiveEvents, ensureAdmin, parseTrustProxy, startApiServer, type LiveEvents, type TrustProxySetting } from "../server/api-server.js";
import type { DeliveryService as ApiDeliveryService, SubscriptionService, WebhookService } from "../server/services.js";
import type { WatchState } from "../watch/watch-state.js";
import { renderMetrics } from "./service-metrics.js";

/** Options for {@link startInboundService}. */
export interface InboundServiceOptions {
  dataDir: string;
  databaseUrl?: string;
  /** Environment: INBOUND_ENCRYPTION_KEY, INBOUND_ADMIN_PASSWORD, INBOUND_PUBLIC_URL, INBOUND_TRUST_PROXY. */
  env: Readonly<Record<string, string | undefined>>;
  /** Which proxies may set X-Forwarded-*; default from INBOUND_TRUST_PROXY (see {@link parseTrustProxy}), else none. */
  trustProxy?: TrustProxySetting;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  logger?: Logger;
  /** Passed through to {@link createInbound} (delivery retry policies, watch timings, parse workers). */
  inbound?: Omit<InboundOptions, "dataDir" | "databaseUrl" | "env" | "logger">;
}

/** A running service: API, admin page, watches, schedules and delivery workers. */
export interface InboundService {
  readonly url: string;
  readonly inbound: Inbound;
  readonly live: LiveEvents;
  /** The generated admin password on a first start without INBOUND_ADMIN_PASSWORD, else null. */
  readonly adminPassword: string | null;
  /** Stop taking new work, finish what is in hand (bounded), close sessions and the store. */
  close(): Promise<void>;
}

function stateView(state: WatchState) {
  return { state: state.state, detail: state.detail, nextAttemptAt: state.nextAttemptAt, errorCode: state.errorCode, attempt: state.attempt, since: state.since };
}

/**
 * The composition root of `inbound serve`: one process holding the store,
 * the watch supervisors and poll schedules, the delivery workers and the
 * HTTP server (REST API, admin page, /healthz, /readyz, /metrics).
 *
 * @example
 * ```ts
 * const service = await startInboundService({ dataDir: "./data", env: process.env, port: 8025 });
 * console.log(service.url);
 * process.once("SIGTERM", () => void service.close());
 * ```
 */
export async function startInboundService(options: InboundServiceOptions): Promise<InboundService> {
  const log = options.logger ?? silentLogger();
  const { env } = options;
  // Read before anything opens: a wrong value fails the start with CONFIG_INVALID naming it.
  const trustProxy = options.trustProxy ?? parseTrustProxy(env.INBOUND_TRUST_PROXY);
  const inbound = await createInbound({
    ...options.inbound,
    dataDir: options.dataDir,
    databaseUrl: options.databaseUrl,
    env,
    logger: log,
    delivery: { publicUrl: env.INBOUND_PUBLIC_URL, ...options.inbound?.delivery },
  });
  try {
    const admin = await ensureAdmin({ store: inbound.store, env });
    const live = createLiveEvents();
    const { watches, delivery } = inbound;
    const offState = watches.onStateChange((state) => live.publish({ type: "account.state", accountId: state.accountId, data: stateView(state) }));
    const offRetrieval = watches.onRetrieval((event) => live.publish({ type: "retrieval.completed", accountId: event.accountId, data: { ...event } }));
    // New mail found by a watch or schedule: the page refreshes its lists on this (fetch-now runs publish their own).
    const offStored = watches.onRetrieval((event) => {
      if (event.summary.stored > 0) live.publish({ type: "message.stored", accountId: event.accountId, data: { stored: event.summary.stored, reason: event.reason } });
    });

    const webhooks: WebhookService = {
      listWebhooks: () => delivery.listWebhooks(),
      getWebhook: (id) => delivery.getWebhook(id),
      createWebhook: (input) => delivery.addWebhook(input),
      updateWebhook: (id, patch) => delivery.updateWebhook(id, patch),
      removeWebhook: (id) => delivery.removeWebhook(id),
      async testWebhook(id) {
        const result = await delivery.testWebhook(id);
        return { ok: result.ok, status: result.status, durationMs: result.durationMs, error: result.ok ? null : result.error };
      },
    };
    const deliveries: ApiDeliveryService = {
      listDeliveries: (filter) => delivery.listDeliveries(filter),
      getDelivery: (id) => delivery.getDelivery(id),
      replayDelivery: (id) => delivery.replay(id),
    };
    const statusOf = async (accountId: string) => {
      const subscribed = (await inbound.store.subscriptions.find(accountId)) !== undefined;
      const watch = watches.states().find((s) => s.accountId === accountId);
      return { subscribed, watch: watch ? stateView(watch) : null };
    };
    const subscriptions: SubscriptionService = {
      async subscribe(accountId) {
        await watches.subscribe(accountId);
        return statusOf(accountId);
      },
      async unsubscribe(accountId) {
        await watches.unsubscribe(accountId);
        return statusOf(accountId);
      },
      subscriptionStatus: statusOf,
    };

    const server = await startApiServer({
      inbound,
      host: options.host ?? "127.0.0.1",
      port: options.port ?? 8025,
      logger: log,
      trustProxy,
      publicUrl: env.INBOUND_PUBLIC_URL,
      live,
      webhooks,
      deliveries,
      subscriptions,
      metrics: () => renderMetrics(inbound),
    });
    await inbound.start();
    // Messages an earlier process stored but never parsed (killed mid-run).
    const pending = inbound.processPending().catch((error: unknown) => log.error({ err: error }, "parsing messages left pending failed"));

    let closing: Promise<void> | undefined;
    return {
      url: server.url,
      inbound,
      live,
      adminPassword: admin.created ? (admin.generatedPassword ?? null) : null,
      close: () =>
        (closing ??= (async () => {
          offState();
          offRetrieval();
          offStored();
          await server.close();
          await pending;
          await inbound.close();
        })()),
    };
  } catch (error) {
    await inbound.close();
    throw error;
  }
}
