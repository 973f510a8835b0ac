import { existsSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import fastifyCookie from "@fastify/cookie";
import fastifyStatic from "@fastify/static";
import Fastify, { type FastifyInstance, type FastifyServerOptions } from "fastify";
import { sql } from "kysely";
import { silentLogger, type Logger } from "../core/logger.js";
import type { Inbound } from "../inbound.js";
import { ApiError } from "./api-error.js";
import { API_DOCS_CSS, API_DOCS_HTML, API_DOCS_JS } from "./api-docs-page.js";
import { createLoginRateLimiter, type LoginRateLimiterOptions } from "./auth/login-rate-limiter.js";
import { createPasswordCheckGate, type PasswordCheckGateOptions } from "./auth/password-check-gate.js";
import { createRequestAuthenticator } from "./auth/request-authenticator.js";
import { errorResponse } from "./http-status.js";
import { createLiveEvents, type LiveEvents } from "./live-events.js";
import { buildOpenApiDocument } from "./openapi-document.js";
import type { RouteDefinition } from "./route-definition.js";
import type { RouteDeps } from "./route-deps.js";
import { registerRoutes } from "./route-registrar.js";
import { accountRoutes } from "./routes/account-routes.js";
import { attachmentRoutes } from "./routes/attachment-routes.js";
import { deliveryRoutes } from "./routes/delivery-routes.js";
import { eventRoutes } from "./routes/event-routes.js";
import { messageRoutes } from "./routes/message-routes.js";
import { sessionRoutes, type SessionRouteOptions } from "./routes/session-routes.js";
import { tokenRoutes } from "./routes/token-routes.js";
import { userRoutes } from "./routes/user-routes.js";
import { webhookRoutes } from "./routes/webhook-routes.js";
import { createRunRegistry } from "./run-registry.js";
import type { DeliveryService, SubscriptionService, WebhookService } from "./services.js";

export { ensureAdmin, type EnsureAdminResult } from "./auth/ensure-admin.js";
export { parseTrustProxy, type TrustProxySetting } from "./auth/parse-trust-proxy.js";
export { createLiveEvents, type LiveEvent, type LiveEvents } from "./live-events.js";
export type { DeliveryService, SubscriptionService, WebhookService } from "./services.js";

/** Where the operations are mounted. */
export const API_PREFIX = "/api/v1";

/** The admin page's Content-Security-Policy (and that of every non-API page). */
export const PAGE_CSP = "default-src 'self'; frame-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/** JSON answers are never a document anyone should render or frame. */
const API_CSP = "default-src 'none'; frame-ancestors 'none'";

/** The built admin page, next to this module's package: `<package>/dist/web`. */
export const DEFAULT_WEB_ROOT = fileURLToPath(new URL("../../dist/web", import.meta.url));

/** Everything the API server is built from. Only `inbound` is required. */
export interface ApiServerDeps {
  inbound: Inbound;
  /** Live updates for GET /events/stream; the facade, watch and delivery layers publish into it. Default: a new in-process bus. */
  live?: LiveEvents;
  /** Absent: webhook routes answer 501. */
  webhooks?: WebhookService;
  /** Absent: delivery routes answer 501. */
  deliveries?: DeliveryService;
  /** Absent: subscribe/unsubscribe answer 501 and the state shows no subscription. */
  subscriptions?: SubscriptionService;
  /** Request and error log (redacts secrets by field name). Default: silent. */
  logger?: Logger;
  /** The admin page's files; default `dist/web` of the package; `null` serves none. Served only when the directory exists. */
  webRoot?: string | null;
  /**
   * Trust X-Forwarded-For/-Proto/-Host from these proxies (Fastify's
   * `trustProxy`; `inbound serve` reads it with {@link parseTrustProxy}).
   * Then the sign-in limits count each client's own address, and a request
   * that reached the proxy over HTTPS gets a Secure cookie. Default false:
   * every client behind a proxy shares the proxy's address.
   */
  trustProxy?: FastifyServerOptions["trustProxy"];
  /** The address browsers use (`INBOUND_PUBLIC_URL`): when https, the session cookie is always Secure. */
  publicUrl?: string;
  loginRateLimit?: LoginRateLimiterOptions;
  /** How many password checks (scrypt, on libuv's thread pool) run at once and wait; default 2 and 32. */
  passwordChecks?: PasswordCheckGateOptions;
  /** Idle lifetime of a browser session; default 12 h. */
  sessionTtlMs?: number;
  /** How often an event stream sends a keep-alive comment and checks its credentials again; default 15 s. */
  eventStreamHeartbeatMs?: number;
  /** `info.version` of the OpenAPI document; default the package version. */
  version?: string;
  /** Prometheus text for `GET /metrics` (outside the API, like /healthz); absent: no /metrics. */
  metrics?: () => Promise<string>;
}

const VERSION = "0.1.0";

/** The API's operations, in document order. */
function allRoutes(deps: RouteDeps, events: RouteDefinition[], session: SessionRouteOptions): RouteDefinition[] {
  return [
    ...sessionRoutes(deps, session),
    ...accountRoutes(deps),
    ...messageRoutes(deps),
    ...attachmentRoutes(deps),
    ...events,
    ...webhookRoutes(deps),
    ...deliveryRoutes(deps),
    ...userRoutes(deps),
    ...tokenRoutes(deps),
  ];
}

/**
 * Build the HTTP API (not listening): `/api/v1/...` operations,
 * `/api/v1/openapi.json`, `/api/docs`, `/healthz`, `/readyz`, and the admin
 * page from `dist/web` at `/`. Use `app.inject()` in tests, or
 * {@link startApiServer} to listen.
 *
 * @example
 * ```ts
 * const app = await buildApiServer({ inbound });
 * const response = await app.inject({ method: "GET", url: "/api/v1/accounts", headers: { authorization: `Bearer ${token}` } });
 * await app.close();
 * ```
 */
export async function buildApiServer(deps: ApiServerDeps): Promise<FastifyInstance> {
  const log = deps.logger ?? silentLogger();
  const live = deps.live ?? createLiveEvents();
  const app = Fastify({ logger: false, trustProxy: deps.trustProxy ?? false, bodyLimit: 1024 * 1024, return503OnClosing: true });
  const routeDeps: RouteDeps = {
    inbound: deps.inbound,
    live,
    log,
    runs: createRunRegistry({ inbound: deps.inbound, live, log }),
    authenticator: createRequestAuthenticator({ store: deps.inbound.store, sessionTtlMs: deps.sessionTtlMs }),
    loginLimiter: createLoginRateLimiter(deps.loginRateLimit),
    webhooks: deps.webhooks,
    deliveries: deps.deliveries,
    subscriptions: deps.subscriptions,
  };
  const events = eventRoutes(routeDeps, { heartbeatMs: deps.eventStreamHeartbeatMs });
  // One gate per server: every sign-in and password change shares its slots.
  const routes = allRoutes(routeDeps, events.routes, { passwordChecks: createPasswordCheckGate(deps.passwordChecks), publicUrl: deps.publicUrl });
  const openApi = JSON.stringify(buildOpenApiDocument(routes, { version: deps.version ?? VERSION, serverUrl: API_PREFIX }), null, 2);

  await app.register(fastifyCookie);
  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string", bodyLimit: 64 * 1024 }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  app.addHook("onSend", async (request, reply, payload) => {
    reply.header("x-content-type-options", "nosniff");
    reply.header("referrer-policy", "no-referrer");
    if (!reply.hasHeader("content-security-policy")) reply.header("content-security-policy", request.url.startsWith(`${API_PREFIX}/`) && !request.url.startsWith(`${API_PREFIX}/openapi.json`) ? API_CSP : PAGE_CSP);
    return payload;
  });
  app.addHook("onResponse", async (request, reply) => {
    if (request.url === "/healthz" || request.url === "/readyz" || request.url === "/metrics") return;
    log.info({ method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, "http");
  });
  app.setErrorHandler(async (error: unknown, request, reply) => {
    const fastifyError = error as { code?: string; statusCode?: number; message?: string };
    let mapped: unknown = error;
    if (fastifyError.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") mapped = new ApiError("UNSUPPORTED_MEDIA_TYPE");
    else if (fastifyError.code === "FST_ERR_CTP_BODY_TOO_LARGE") mapped = new ApiError("PAYLOAD_TOO_LARGE");
    else if (typeof fastifyError.code === "string" && fastifyError.code.startsWith("FST_ERR_CTP_") && fastifyError.statusCode === 400) {
      mapped = new ApiError("REQUEST_INVALID", { message: `The body is not valid: ${fastifyError.message}`, details: { in: "body", fields: [{ field: "(body)", message: "is not valid JSON" }] } });
    }
    const { status, headers, body } = errorResponse(mapped);
    // Every server-side failure reaches the log (a missing blob, a failed store, an unreachable mail server), not only the unexpected ones.
    if (status === 500) log.error({ err: error, code: body.code, method: request.method, url: request.url }, "request failed");
    else if (status > 500) log.warn({ code: body.code, method: request.method, url: request.url }, "request failed upstream");
    return reply.code(status).headers(headers).header("cache-control", "no-store").type("application/json; charset=utf-8").send(body);
  });

  registerRoutes(app, API_PREFIX, routes, routeDeps.authenticator);

  app.get(`${API_PREFIX}/openapi.json`, async (_request, reply) => reply.type("application/json; charset=utf-8").send(openApi));
  app.get("/api/docs", async (_request, reply) => reply.type("text/html; charset=utf-8").send(API_DOCS_HTML));
  app.get("/api/docs/docs.js", async (_request, reply) => reply.type("text/javascript; charset=utf-8").send(API_DOCS_JS));
  app.get("/api/docs/docs.css", async (_request, reply) => reply.type("text/css; charset=utf-8").send(API_DOCS_CSS));
  app.get("/healthz", async () => ({ status: "ok" }));
  const { metrics } = deps;
  if (metrics) app.get("/metrics", async (_request, reply) => reply.type("text/plain; version=0.0.4; charset=utf-8").header("cache-control", "no-store").send(await metrics()));
  app.get("/readyz", async (_request, reply) => {
    try {
      await sql`select 1`.execute(deps.inbound.store.database.db);
      return { status: "ready" };
    } catch {
      return reply.code(503).send({ status: "not ready" });
    }
  });

  const webRoot = deps.webRoot === undefined ? DEFAULT_WEB_ROOT : deps.webRoot;
  const servePage = webRoot !== null && existsSync(webRoot);
  if (servePage) await app.register(fastifyStatic, { root: webRoot, prefix: "/", wildcard: true, index: ["index.html"] });

  app.setNotFoundHandler(async (request, reply) => {
    // The page routes in the browser: unknown non-API paths get its index.html.
    if (servePage && request.method === "GET" && !request.url.startsWith("/api/") && existsSync(`${webRoot}/index.html`)) {
      return reply.type("text/html; charset=utf-8").sendFile("index.html");
    }
    const { status, body } = errorResponse(new ApiError("NOT_FOUND", { message: `No ${request.method} ${request.url.split("?")[0]}; see /api/docs.` }));
    return reply.code(status).type("application/json; charset=utf-8").send(body);
  });

  app.addHook("preClose", async () => {
    events.streams.closeAll();
    await routeDeps.runs.close();
  });
  return app;
}

/** Same as {@link buildApiServer}; the name `inbound serve` wires. */
export const createApiServer = buildApiServer;

/** A listening API server. */
export interface ApiServerHandle {
  /** e.g. `http://127.0.0.1:8025` */
  readonly url: string;
  readonly app: FastifyInstance;
  /** Stop listening, end live streams, abort running fetches and wait for them. */
  close(): Promise<void>;
}

/**
 * Build and listen.
 *
 * @example
 * ```ts
 * const server = await startApiServer({ inbound, host: "127.0.0.1", port: 8025, logger: log });
 * try { await waitForSignal(); } finally { await server.close(); }
 * ```
 */
export async function startApiServer(options: ApiServerDeps & { host: string; port: number }): Promise<ApiServerHandle> {
  const { host, port, ...deps } = options;
  const app = await buildApiServer(deps);
  await app.listen({ host, port });
  const address = app.server.address() as AddressInfo;
  const shown = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return { url: `http://${shown}:${address.port}`, app, close: () => app.close() };
}
