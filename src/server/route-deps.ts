import type { Logger } from "../core/logger.js";
import type { Inbound } from "../inbound.js";
import type { LoginRateLimiter } from "./auth/login-rate-limiter.js";
import type { RequestAuthenticator } from "./auth/request-authenticator.js";
import type { LiveEvents } from "./live-events.js";
import type { RunRegistry } from "./run-registry.js";
import type { DeliveryService, SubscriptionService, WebhookService } from "./services.js";

/** What route modules are built from; assembled once by `buildApiServer`. */
export interface RouteDeps {
  inbound: Inbound;
  runs: RunRegistry;
  live: LiveEvents;
  authenticator: RequestAuthenticator;
  loginLimiter: LoginRateLimiter;
  log: Logger;
  webhooks?: WebhookService;
  deliveries?: DeliveryService;
  subscriptions?: SubscriptionService;
}
