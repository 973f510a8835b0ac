import type { Logger } from "pino";
import type { SecretBox } from "../auth/secret-box.js";
import { newId } from "../core/ids.js";
import { InboundError, isInboundError } from "../core/inbound-error.js";
import { silentLogger } from "../core/logger.js";
import { withDeadline } from "../core/with-deadline.js";
import type { DeliveryOutcome, DeliveryPage, DeliveryRecord, DueDelivery, ListDeliveriesOptions } from "../store/delivery-repository.js";
import type { Store } from "../store/store.js";
import { webhookConsumer, type WebhookRecord } from "../store/webhook-repository.js";
import type { DeliveryEvent, HandlerContext, HandlerOptions, Unsubscribe } from "./delivery-event.js";
import { isDeadLocalOwner, newOwnerId } from "../store/lease-owner.js";
import { loadReceivedMessage, type ReceivedMessage } from "./received-message.js";
import { backoffDelay, DEFAULT_HANDLER_RETRY, DEFAULT_WEBHOOK_RETRY, resolveRetryPolicy, type RetryPolicy } from "./retry-policy.js";
import { buildWebhookBody, type WebhookBody } from "./webhook-payload.js";
import { sendWebhook, type WebhookAttempt } from "./webhook-sender.js";
import { generateWebhookSecret, parseWebhookInput, type WebhookInput, type WebhookUpdate } from "./webhook-settings.js";
import { createWebhookTargetCache } from "./webhook-target-cache.js";

/**
 * The message an event announced is no longer stored (its account was
 * removed): nothing to hand over, so the delivery is done. Only the load
 * raises it; the same code thrown by a handler itself is a failure like any.
 */
class MessageGone extends Error {}

/** An in-process handler for stored messages. Throwing (or rejecting) means "retry later". */
export type MessageHandler = (message: ReceivedMessage, context: HandlerContext) => unknown;

/** An in-process handler for any event type. Throwing (or rejecting) means "retry later". */
export type EventHandler = (event: DeliveryEvent, context: HandlerContext) => unknown;

/** Options for {@link createDeliveryService}. */
export interface DeliveryServiceOptions {
  store: Store;
  /** Seals webhook secrets at rest. */
  box: SecretBox;
  log?: Logger;
  /** Base URL of `inbound serve` as receivers reach it, for attachment links in webhook bodies. */
  publicUrl?: string;
  /** Characters of text and of HTML kept in webhook bodies; default 256 KiB. */
  bodyLimit?: number;
  /** Default 10 attempts, 10 s doubling to 1 h. */
  webhookRetry?: Partial<RetryPolicy>;
  /** Default 10 attempts, 1 s doubling to 10 min. */
  handlerRetry?: Partial<RetryPolicy>;
  /** Per-request bound for webhooks; default 10 s. */
  webhookTimeoutMs?: number;
  /**
   * How long one in-process handler call may run before it counts as failed
   * (its signal is aborted and the delivery is retried later); default 5 min.
   * A handler that never settles would otherwise hold its account's lane for good.
   */
  handlerTimeoutMs?: number;
  /** How often the outbox and due retries are looked at without a {@link DeliveryService.notify}; default 200 ms. */
  pollIntervalMs?: number;
  /** Deliveries in hand at once in this process (each on its own consumer+account lane); default 16. */
  concurrency?: number;
  /** How long a claimed delivery stays ours without renewal; renewed every third of it. Default 30 s. */
  leaseMs?: number;
  /** How long `close()` waits for deliveries in hand before aborting them; default 10 s. */
  drainTimeoutMs?: number;
}

/** Counters since start, for metrics. */
export interface DeliveryStats {
  /** Attempts that succeeded. */
  delivered: number;
  /** Attempts that failed (each retry counts). */
  failures: number;
  /** Events parked after their last attempt. */
  parked: number;
  /** Webhooks turned off because they answered 410 Gone. */
  webhooksDisabled: number;
  inFlight: number;
}

/** Result of {@link DeliveryService.testWebhook}. */
export type WebhookTestResult = WebhookAttempt & { eventId: string };

/** A new webhook with its secret, shown this once. */
export type CreatedWebhook = WebhookRecord & { secret: string };

/**
 * Delivery of outbox events to in-process handlers and webhooks:
 * at-least-once, ordered per account and consumer, retried with backoff,
 * parked after the retry limit, replayable.
 */
export interface DeliveryService {
  /** Begin delivering (and keep at it until `close()`). Handlers may be registered before or after. */
  start(): Promise<void>;
  /** New outbox rows were committed: look now instead of at the next poll. */
  notify(): void;
  /** Handle every stored message (`message.received`). */
  onMessage(handler: MessageHandler, options?: HandlerOptions): Unsubscribe;
  /** Handle events of one type (or `*`). */
  on(eventType: string, handler: EventHandler, options?: HandlerOptions): Unsubscribe;
  /** Drop a handler name and everything queued for it. */
  forgetHandler(name: string): Promise<void>;
  addWebhook(input: WebhookInput): Promise<CreatedWebhook>;
  listWebhooks(): Promise<WebhookRecord[]>;
  getWebhook(id: string): Promise<WebhookRecord>;
  updateWebhook(id: string, patch: WebhookUpdate): Promise<WebhookRecord>;
  /** Remove the target and drop its queued deliveries. */
  removeWebhook(id: string): Promise<void>;
  /** POST a signed `webhook.test` event now (outside the queue) and report the answer. */
  testWebhook(id: string): Promise<WebhookTestResult>;
  listDeliveries(options?: ListDeliveriesOptions): Promise<DeliveryPage>;
  getDelivery(id: string): Promise<DeliveryRecord>;
  /**
   * Make a delivery (parked, or any other) pending again with fresh attempts. A finished one
   * goes to the back of its (consumer, account) lane; one still queued keeps its place.
   */
  replay(id: string): Promise<DeliveryRecord>;
  stats(): DeliveryStats;
  /** Stop taking work, let deliveries in hand finish (bounded by `drainTimeoutMs`), release the rest. Leaves the store open. */
  close(): Promise<void>;
}

interface LocalHandler {
  name: string;
  consumer: string;
  events: string[];
  run: (event: DeliveryEvent, context: HandlerContext) => Promise<unknown>;
  fromBeginning: boolean;
  registered: boolean;
  registering?: Promise<void>;
  /** A `fromBeginning` backfill running in the background; the handler is registered once it is done. */
  backfilling?: Promise<void>;
  resolveReady: () => void;
}

interface InFlight {
  controller: AbortController;
  done: Promise<void>;
}

const DISPATCH_BATCH = 500;

/**
 * Create the delivery service over a store. Nothing runs until `start()`;
 * webhook management and delivery listings work without it (CLI).
 *
 * Several processes may run it on one PostgreSQL: a delivery is claimed by a
 * compare-and-set on its lease column, only the first open delivery of each
 * (consumer, account) lane can be claimed, and fan-out from the outbox is
 * serialised by a row lock.
 *
 * @example
 * ```ts
 * const delivery = createDeliveryService({ store, box, log, publicUrl: "https://inbound.example.com" });
 * const off = delivery.onMessage(async (message) => { await crm.createTicket(message.subject, message.textBody); }, { name: "crm" });
 * await delivery.start();
 * // ...
 * off();
 * await delivery.close();
 * ```
 */
export function createDeliveryService(options: DeliveryServiceOptions): DeliveryService {
  const { store, box } = options;
  const log = options.log ?? silentLogger();
  const webhookRetry = resolveRetryPolicy(DEFAULT_WEBHOOK_RETRY, options.webhookRetry);
  const handlerRetry = resolveRetryPolicy(DEFAULT_HANDLER_RETRY, options.handlerRetry);
  const handlerTimeoutMs = options.handlerTimeoutMs ?? 5 * 60_000;
  const pollMs = options.pollIntervalMs ?? 200;
  const concurrency = options.concurrency ?? 16;
  const leaseMs = options.leaseMs ?? 30_000;
  const drainTimeoutMs = options.drainTimeoutMs ?? 10_000;
  const owner = newOwnerId();
  const targets = createWebhookTargetCache(store, box, 1_000, (record, error) =>
    log.error({ err: error, webhookId: record.id, url: withoutQuery(record.url) }, "cannot open this webhook's secret; its deliveries wait until INBOUND_ENCRYPTION_KEY holds the key that sealed it (or the secret is set again)"),
  );
  const handlers = new Map<string, LocalHandler>();
  const inFlight = new Map<string, InFlight>();
  const counters = { delivered: 0, failures: 0, parked: 0, webhooksDisabled: 0 };

  let started = false;
  let closing = false;
  let timer: NodeJS.Timeout | undefined;
  let ticking: Promise<void> | undefined;
  let again = false;
  let lastReap = 0;
  // Stops backfills at close(); each resumes at the next start (it is recorded as owed until done).
  const backfills = new AbortController();

  function schedule(delayMs: number): void {
    if (closing || !started) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      ticking = tick().finally(() => {
        ticking = undefined;
        schedule(again ? 0 : pollMs);
        again = false;
      });
    }, delayMs);
  }

  function wake(): void {
    if (ticking) again = true;
    else schedule(0);
  }

  function registered(entry: LocalHandler): void {
    entry.registered = true;
    entry.resolveReady();
    wake();
  }

  function register(entry: LocalHandler): Promise<void> {
    entry.registering ??= (async () => {
      try {
        const { backfillUpTo, backfillPending } = await store.deliveries.registerHandler(entry.name, entry.events, { fromBeginning: entry.fromBeginning });
        if (backfillPending) backfill(entry, backfillUpTo);
        else registered(entry);
      } catch (error) {
        log.warn({ err: error, handler: entry.name }, "could not register the handler; will try again");
      } finally {
        entry.registering = undefined;
      }
    })();
    return entry.registering;
  }

  /**
   * Queue a `fromBeginning` handler's older events, beside the loop rather than in it: a large
   * outbox took minutes, and every other consumer waited (and close() with them). The handler
   * is claimed for only once that is done, so it still gets its events in order: backfilled
   * ones go at the lane positions they were dispatched at, before anything dispatched since.
   */
  function backfill(entry: LocalHandler, upTo: number): void {
    entry.backfilling = (async () => {
      try {
        // Safe to run again after a crash or a close halfway: a delivery already queued is not queued twice.
        await store.deliveries.backfill({ consumer: entry.consumer, events: entry.events }, upTo, backfills.signal);
        if (backfills.signal.aborted) return;
        await store.deliveries.finishBackfill(entry.name);
        registered(entry);
      } catch (error) {
        log.warn({ err: error, handler: entry.name }, "could not queue the handler's earlier events; will try again");
      } finally {
        entry.backfilling = undefined;
      }
    })();
  }

  function addHandler(name: string, events: string[], run: LocalHandler["run"], handlerOptions: HandlerOptions): Unsubscribe {
    if (handlers.has(name)) {
      throw new InboundError("HANDLER_NAME_TAKEN", { message: `A handler named "${name}" is already registered in this process; pass a different { name }.`, details: { name } });
    }
    let resolveReady!: () => void;
    const ready = new Promise<void>((resolve) => (resolveReady = resolve));
    const entry: LocalHandler = { name, consumer: `handler:${name}`, events, run, fromBeginning: Boolean(handlerOptions.fromBeginning), registered: false, resolveReady };
    handlers.set(name, entry);
    void register(entry);
    const unsubscribe = () => {
      if (handlers.get(name) === entry) handlers.delete(name);
    };
    return Object.assign(unsubscribe, { ready });
  }

  async function tick(): Promise<void> {
    try {
      // Register names before fanning out, so a handler registered before a fetch gets that fetch's events.
      await Promise.all([...handlers.values()].filter((h) => !h.registered && h.backfilling === undefined).map(register));
      for (let round = 0; round < 20; round++) {
        if ((await store.deliveries.dispatch(DISPATCH_BATCH)) < DISPATCH_BATCH) break;
      }
      if (Date.now() - lastReap > Math.min(5_000, leaseMs / 2)) {
        lastReap = Date.now();
        for (const holder of await store.deliveries.leaseOwners()) {
          if (isDeadLocalOwner(holder)) await store.deliveries.releaseOwner(holder);
        }
      }
      await claimAndStart();
    } catch (error) {
      log.warn({ err: error }, "delivery loop failed; retrying at the next poll");
    }
  }

  async function claimAndStart(): Promise<void> {
    const free = concurrency - inFlight.size;
    if (free <= 0 || closing) return;
    const enabled = await targets.enabled();
    const consumers = [
      ...[...handlers.values()].filter((h) => h.registered).map((h) => h.consumer),
      ...[...enabled.keys()].map(webhookConsumer),
    ];
    const due = await store.deliveries.due(consumers, free * 2);
    for (const delivery of due) {
      if (inFlight.size >= concurrency || closing) break;
      if (inFlight.has(delivery.id)) continue;
      if (!(await store.deliveries.claim(delivery.id, owner, leaseMs))) continue;
      const policy = delivery.consumer.startsWith("webhook:") ? webhookRetry : handlerRetry;
      if (delivery.attempts >= policy.maxAttempts) {
        // Every attempt is counted when it is claimed; one that never finished took its process down
        // (an uncaught exception, out of memory). Trying again would crash again: park it.
        counters.parked++;
        const error = `${delivery.attempts} attempt(s) started and the last did not finish: the process stopped during it (a crash or kill while handling this event). Parked so it cannot take the process down again; replay it once the cause is fixed.`;
        log.error({ deliveryId: delivery.id, eventId: delivery.eventId, consumer: delivery.consumer, attempts: delivery.attempts }, "delivery parked: its attempts never finished");
        await store.deliveries.finish(delivery.id, owner, { status: "parked", error, httpStatus: null });
        continue;
      }
      start(delivery);
    }
  }

  function start(delivery: DueDelivery): void {
    const controller = new AbortController();
    // When the lease is lost (another process took the row, or it ran out while the database was
    // out of reach), the attempt stops: another process may be delivering the same event now.
    let leaseUntil = Date.now() + leaseMs;
    const lose = (why: string) => {
      if (controller.signal.aborted) return;
      log.warn({ deliveryId: delivery.id, eventId: delivery.eventId, consumer: delivery.consumer }, `delivery lease lost: ${why}; this attempt stops, and the event is delivered again (same event id)`);
      controller.abort();
    };
    const renewal = setInterval(() => {
      const asked = Date.now();
      store.deliveries.renew(delivery.id, owner, leaseMs).then(
        (held) => {
          if (held) leaseUntil = asked + leaseMs;
          else lose("another process holds it now");
        },
        () => {
          if (Date.now() >= leaseUntil) lose("it could not be renewed before it ran out");
        },
      );
    }, Math.max(250, Math.floor(leaseMs / 3)));
    const done = (async () => {
      let outcome: DeliveryOutcome;
      try {
        outcome = await attempt(delivery, controller.signal);
      } catch (error) {
        const policy = delivery.consumer.startsWith("webhook:") ? webhookRetry : handlerRetry;
        outcome = failure(policy, delivery, error instanceof Error ? error.message : String(error));
      } finally {
        clearInterval(renewal);
      }
      try {
        await store.deliveries.finish(delivery.id, owner, outcome);
      } catch (error) {
        // The lease runs out and another attempt follows: at-least-once holds.
        log.warn({ err: error, deliveryId: delivery.id }, "could not record a delivery's outcome");
      }
    })().finally(() => {
      inFlight.delete(delivery.id);
      wake();
    });
    inFlight.set(delivery.id, { controller, done });
  }

  function failure(policy: RetryPolicy, delivery: DueDelivery, error: string, httpStatus: number | null = null): DeliveryOutcome {
    counters.failures++;
    const attemptNumber = delivery.attempts + 1;
    if (attemptNumber >= policy.maxAttempts) {
      counters.parked++;
      log.error({ deliveryId: delivery.id, eventId: delivery.eventId, consumer: delivery.consumer, attempts: attemptNumber, error }, "delivery parked after its last attempt");
      return { status: "parked", error, httpStatus };
    }
    const nextAttemptAt = new Date(Date.now() + backoffDelay(policy, attemptNumber));
    log.warn({ deliveryId: delivery.id, eventId: delivery.eventId, consumer: delivery.consumer, attempt: attemptNumber, nextAttemptAt, error }, "delivery failed; will retry");
    return { status: "retrying", error, httpStatus, nextAttemptAt };
  }

  function eventOf(delivery: DueDelivery): DeliveryEvent {
    return { id: delivery.eventId, type: delivery.eventType, accountId: delivery.accountId, createdAt: delivery.eventCreatedAt, payload: delivery.payload };
  }

  async function attempt(delivery: DueDelivery, signal: AbortSignal): Promise<DeliveryOutcome> {
    const [kind, ...rest] = delivery.consumer.split(":");
    const target = rest.join(":");
    return kind === "webhook" ? attemptWebhook(delivery, target, signal) : attemptHandler(delivery, target, signal);
  }

  async function attemptHandler(delivery: DueDelivery, name: string, signal: AbortSignal): Promise<DeliveryOutcome> {
    const handler = handlers.get(name);
    if (!handler) return { status: "released" };
    const event = eventOf(delivery);
    // The handler's signal aborts on shutdown and when it runs out of time.
    const limit = new AbortController();
    try {
      await withDeadline(handler.run(event, { eventId: event.id, attempt: delivery.attempts + 1, signal: limit.signal }), {
        ms: handlerTimeoutMs,
        signal,
        what: "The handler",
        onTimeout: () => new Error(`the handler did not finish within ${handlerTimeoutMs} ms (handlerTimeoutMs)`),
        onGiveUp: () => limit.abort(),
      });
    } catch (error) {
      if (signal.aborted) return { status: "released", error: "interrupted by shutdown" };
      if (error instanceof MessageGone) {
        counters.delivered++;
        return { status: "succeeded", note: "the message is no longer stored (its account was removed); skipped" };
      }
      const message = error instanceof Error ? error.message : String(error);
      return failure(handlerRetry, delivery, `HANDLER_FAILED: ${message}`);
    }
    counters.delivered++;
    return { status: "succeeded" };
  }

  const accountNames = new Map<string, { name: string | null; at: number }>();
  /** Account names change rarely; a webhook body may show a name up to 10 s old. */
  async function accountName(id: string): Promise<string | null> {
    const cached = accountNames.get(id);
    if (cached && Date.now() - cached.at < 10_000) return cached.name;
    const name = await store.accounts.get(id).then((a) => a.name, () => null);
    if (accountNames.size > 10_000) accountNames.clear();
    accountNames.set(id, { name, at: Date.now() });
    return name;
  }

  async function webhookBody(event: DeliveryEvent): Promise<WebhookBody | null> {
    const account = event.accountId === null ? null : { id: event.accountId, name: await accountName(event.accountId) };
    if (event.type !== "message.received") return buildWebhookBody(event, account, null, options);
    const messageId = String(event.payload.messageId);
    try {
      const message = await store.messages.get(messageId);
      return buildWebhookBody(event, account, { message, attachments: await store.messages.attachments(messageId) }, options);
    } catch (error) {
      if (isInboundError(error, "MESSAGE_NOT_FOUND")) return null;
      throw error;
    }
  }

  async function attemptWebhook(delivery: DueDelivery, webhookId: string, signal: AbortSignal): Promise<DeliveryOutcome> {
    const target = (await targets.enabled()).get(webhookId);
    if (!target) return { status: "released" };
    const event = eventOf(delivery);
    const body = await webhookBody(event);
    if (body === null) {
      counters.delivered++;
      return { status: "succeeded", note: "the message is no longer stored (its account was removed); skipped" };
    }
    const result = await sendWebhook({
      url: target.record.url,
      secret: target.secret,
      eventId: event.id,
      eventType: event.type,
      body: JSON.stringify(body),
      timeoutMs: options.webhookTimeoutMs,
      signal,
      attempt: delivery.attempts + 1,
    });
    if (result.ok) {
      counters.delivered++;
      return { status: "succeeded", httpStatus: result.status };
    }
    if (signal.aborted) return { status: "released", error: "interrupted by shutdown" };
    if (result.gone) {
      counters.webhooksDisabled++;
      const reason = `410 Gone at ${new Date().toISOString()}: the receiver asked not to be called again`;
      await store.webhooks.update(webhookId, { enabled: false, disabledReason: reason });
      targets.invalidate();
      log.warn({ webhookId, url: withoutQuery(target.record.url) }, "webhook answered 410 Gone; disabled it (its queued events wait until it is enabled again)");
      return { status: "released", error: `WEBHOOK_FAILED: ${result.error}; target disabled`, httpStatus: result.status };
    }
    return failure(webhookRetry, delivery, `WEBHOOK_FAILED: ${result.error}`, result.status);
  }

  return {
    async start() {
      if (started) return;
      if (closing) throw new InboundError("ABORTED", { message: "The delivery service is closed." });
      started = true;
      lastReap = 0;
      schedule(0);
    },
    notify: wake,
    onMessage(handler, handlerOptions = {}) {
      const run = async (event: DeliveryEvent, context: HandlerContext) => {
        let message: ReceivedMessage;
        try {
          message = await loadReceivedMessage(store, event.id, String(event.payload.messageId));
        } catch (error) {
          throw isInboundError(error, "MESSAGE_NOT_FOUND") ? new MessageGone() : error;
        }
        return handler(message, context);
      };
      return addHandler(handlerOptions.name ?? "default", ["message.received"], run, handlerOptions);
    },
    on(eventType, handler, handlerOptions = {}) {
      const run = async (event: DeliveryEvent, context: HandlerContext) => handler(event, context);
      return addHandler(handlerOptions.name ?? `on:${eventType}`, [eventType], run, handlerOptions);
    },
    async forgetHandler(name) {
      handlers.delete(name);
      await store.deliveries.forgetHandler(name);
    },
    async addWebhook(input) {
      const settings = parseWebhookInput(input);
      const secret = settings.secret ?? generateWebhookSecret();
      const record = await store.webhooks.create({ url: settings.url, events: settings.events, secretEnc: box.seal(secret), description: settings.description, enabled: settings.enabled });
      targets.invalidate();
      return { ...record, secret };
    },
    listWebhooks: () => store.webhooks.list(),
    getWebhook: (id) => store.webhooks.get(id),
    async updateWebhook(id, patch) {
      const settings = parseWebhookInput(patch, true);
      const record = await store.webhooks.update(id, {
        url: patch.url !== undefined ? settings.url : undefined,
        events: patch.events !== undefined ? settings.events : undefined,
        secretEnc: settings.secret !== undefined ? box.seal(settings.secret) : undefined,
        description: settings.description,
        enabled: settings.enabled,
        disabledReason: settings.enabled === true ? null : undefined,
      });
      targets.invalidate();
      wake();
      return record;
    },
    async removeWebhook(id) {
      await store.webhooks.remove(id);
      targets.invalidate();
    },
    async testWebhook(id) {
      const record = await store.webhooks.get(id);
      const secret = box.open(await store.webhooks.getSecretCiphertext(id));
      const eventId = newId();
      const body: WebhookBody = { id: eventId, type: "webhook.test", createdAt: new Date().toISOString(), account: null, data: { webhookId: id, message: "A test event from Inbound. Answer 2xx to acknowledge." } };
      const result = await sendWebhook({ url: record.url, secret, eventId, eventType: body.type, body: JSON.stringify(body), timeoutMs: options.webhookTimeoutMs });
      return { ...result, eventId };
    },
    listDeliveries: (listOptions) => store.deliveries.list(listOptions),
    getDelivery: (id) => store.deliveries.get(id),
    async replay(id) {
      const record = await store.deliveries.replay(id);
      wake();
      return record;
    },
    stats: () => ({ ...counters, inFlight: inFlight.size }),
    async close() {
      if (closing) return;
      closing = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      backfills.abort();
      await Promise.allSettled([...handlers.values()].map((h) => h.backfilling));
      await ticking;
      const pending = () => Promise.allSettled([...inFlight.values()].map((f) => f.done));
      if (inFlight.size > 0 && !(await within(pending(), drainTimeoutMs))) {
        for (const f of inFlight.values()) f.controller.abort();
        await within(pending(), 1_000);
      }
      // Anything still running lets its lease go now, so another process takes it at once.
      await Promise.allSettled([...inFlight.keys()].map((id) => store.deliveries.finish(id, owner, { status: "released", error: "interrupted by shutdown" })));
    },
  };
}

/** A webhook URL for the log: a receiver's token often rides in its query string. */
function withoutQuery(url: string): string {
  const at = url.search(/[?#]/);
  return at === -1 ? url : `${url.slice(0, at)}?…`;
}

/** True when `promise` settled within `ms`. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
