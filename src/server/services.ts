/*
 * What the API needs from the delivery and watch layers (issue 3), written
 * as small interfaces the facade implements. A service that is not passed to
 * `buildApiServer` makes its routes answer 501 NOT_IMPLEMENTED.
 */
import type { WebhookInput } from "../delivery/webhook-settings.js";
import type { WebhookRecord } from "../store/webhook-repository.js";
import type { WatchState } from "../watch/watch-state.js";

/** A webhook target as returned by the API: never its secret (the delivery layer's record). */
export type Webhook = WebhookRecord;

/** A new webhook; `secret` signs the payloads (HMAC) and is write-only. Omitted: the service generates one. */
export type { WebhookInput } from "../delivery/webhook-settings.js";

/** What a test send did. */
export interface WebhookTestResult {
  ok: boolean;
  /** HTTP status the target answered with, `null` when it could not be reached. */
  status: number | null;
  durationMs: number;
  error: string | null;
}

/**
 * Webhook targets. Validation errors are CONFIG_INVALID/WEBHOOK_INVALID with
 * `details.fields`; an unknown id is WEBHOOK_NOT_FOUND.
 */
export interface WebhookService {
  listWebhooks(): Promise<Webhook[]>;
  getWebhook(id: string): Promise<Webhook>;
  /** The only answer that carries the secret (generated when the input has none). */
  createWebhook(input: WebhookInput): Promise<Webhook & { secret: string }>;
  /** A `secret` in the patch replaces the stored one. */
  updateWebhook(id: string, patch: Partial<WebhookInput>): Promise<Webhook>;
  removeWebhook(id: string): Promise<void>;
  /** Send a signed `webhook.test` event now, outside the outbox. */
  testWebhook(id: string): Promise<WebhookTestResult>;
}

/** Delivery state of one event for one consumer. */
export type DeliveryStatusName = "pending" | "retrying" | "succeeded" | "parked";

/** One event owed to one consumer, with how its attempts went. */
export interface Delivery {
  id: string;
  /** `webhook:<id>` or `handler:<name>`. */
  consumer: string;
  eventId: string;
  eventType: string;
  accountId: string | null;
  status: DeliveryStatusName;
  attempts: number;
  nextAttemptAt: string | null;
  lastError: string | null;
  lastStatus: number | null;
  createdAt: string;
  updatedAt: string;
  completedAt: string | null;
}

/** Filters for {@link DeliveryService.listDeliveries}. */
export interface DeliveryFilter {
  /** Only those that failed at least once and are not done (`retrying`, `parked`). */
  failed?: boolean;
  status?: DeliveryStatusName;
  accountId?: string;
  consumer?: string;
  limit?: number;
  cursor?: string | null;
}

/** Deliveries: list, inspect, replay. */
export interface DeliveryService {
  listDeliveries(filter: DeliveryFilter): Promise<{ items: Delivery[]; nextCursor: string | null }>;
  getDelivery(id: string): Promise<Delivery>;
  /** Queue the delivery again now (same event id); returns it as queued. */
  replayDelivery(id: string): Promise<Delivery>;
}

/** Where an account's watch is: the watch layer's state, without the account id the route already names. */
export type WatchStateView = Omit<WatchState, "accountId">;

/** An account's subscription and the live state of its watch. */
export interface SubscriptionStatus {
  subscribed: boolean;
  /** `null` when this process runs no watch for it (not subscribed, or owned by another process). */
  watch: WatchStateView | null;
}

/** Subscribe/unsubscribe accounts (IMAP IDLE or polling) and read their watch state. */
export interface SubscriptionService {
  subscribe(accountId: string): Promise<SubscriptionStatus>;
  unsubscribe(accountId: string): Promise<SubscriptionStatus>;
  subscriptionStatus(accountId: string): Promise<SubscriptionStatus>;
}
