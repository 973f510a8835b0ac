import { z } from "zod";
import { accountInputSchema } from "../../core/account-settings.js";
import { isInboundError } from "../../core/inbound-error.js";
import type { Account } from "../../inbound.js";
import { ApiError } from "../api-error.js";
import { idParams, timestamp } from "../api-schemas.js";
import { defineRoute, type RouteDefinition } from "../route-definition.js";
import type { RouteDeps } from "../route-deps.js";
import type { RunRecord } from "../run-registry.js";

const { password: _password, ...publicSettings } = accountInputSchema.shape;

/** An account as the API returns it: every setting except the password, plus state. */
export const accountSchema = z
  .object({
    id: z.string(),
    ...publicSettings,
    port: z.number().int(),
    security: z.enum(["tls", "starttls", "none"]),
    state: z.string().describe("idle | running | watching | backoff | error | disabled | ..."),
    stateDetail: z.string().nullable(),
    lastRunAt: timestamp.nullable(),
    lastError: z.string().nullable(),
    messageCount: z.number().int().describe("Messages stored for this account"),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: "Account" });

const accountInput = accountInputSchema.meta({ id: "AccountInput", description: "Every account setting; omitted ones take their defaults. `password` is write-only." });
const accountPatch = accountInputSchema.partial().meta({ id: "AccountPatch", description: "Settings to change; the result is validated as a whole. A `password` replaces the stored one." });

const progressSchema = z.object({
  phase: z.enum(["connecting", "planning", "taking", "processing", "done"]),
  total: z.number().int(),
  taken: z.number().int(),
  processed: z.number().int(),
});

/** A fetch-now run. */
export const runSchema = z
  .object({
    id: z.string(),
    accountId: z.string(),
    accountName: z.string(),
    status: z.enum(["running", "succeeded", "failed"]),
    progress: progressSchema.nullable(),
    summary: z
      .object({ fetched: z.number(), stored: z.number(), duplicates: z.number(), parseErrors: z.number(), postActions: z.number(), durationMs: z.number(), takenMs: z.number() })
      .nullable(),
    error: z.object({ code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()) }).nullable(),
    startedAt: timestamp,
    finishedAt: timestamp.nullable(),
  })
  .meta({ id: "Run" });

const testResultSchema = z
  .object({
    ok: z.boolean(),
    summary: z.string().describe("What worked or what failed, in plain words"),
    protocol: z.string().optional(),
    folders: z.array(z.string()).optional(),
    messages: z.number().int().optional(),
    error: z.object({ code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()) }).optional(),
  })
  .meta({ id: "AccountTestResult" });

const folderSchema = z.object({ path: z.string(), name: z.string(), delimiter: z.string(), specialUse: z.string().nullable(), subscribed: z.boolean() }).meta({ id: "Folder" });

/** The watch layer's WatchState as the API shows it (services.ts' WatchStateView). */
export const watchStateSchema = z
  .object({
    state: z.enum(["connecting", "subscribed", "polling", "connection_lost", "retrying", "failed", "stopped"]),
    detail: z.string().nullable(),
    nextAttemptAt: timestamp.nullable(),
    errorCode: z.string().nullable(),
    attempt: z.number().int(),
    since: timestamp,
  })
  .meta({ id: "WatchState" });

const subscriptionStatusSchema = z.object({ subscribed: z.boolean(), watch: watchStateSchema.nullable() }).meta({ id: "SubscriptionStatus" });

const accountStateSchema = z
  .object({
    accountId: z.string(),
    state: z.string(),
    stateDetail: z.string().nullable(),
    lastRunAt: timestamp.nullable(),
    lastError: z.string().nullable(),
    enabled: z.boolean(),
    subscription: subscriptionStatusSchema.nullable().describe("`null` when this service runs no subscription service"),
    run: runSchema.nullable().describe("The fetch-now run of this account in progress, if any"),
  })
  .meta({ id: "AccountState" });

const eventSchema = z
  .object({ id: z.string(), accountId: z.string().nullable(), type: z.string(), level: z.enum(["info", "warn", "error"]), message: z.string(), data: z.record(z.string(), z.unknown()), createdAt: timestamp })
  .meta({ id: "Event" });

export { eventSchema };

function notRunning(service: string): ApiError {
  return new ApiError("NOT_IMPLEMENTED", { message: `Subscriptions are not available: this server was started without a ${service}.` });
}

/** Accounts: CRUD, test connection, folders, fetch now, subscription, state, log. */
export function accountRoutes(deps: RouteDeps): RouteDefinition[] {
  const { inbound, runs } = deps;
  const withCount = async (account: Account) => ({ ...account, messageCount: await inbound.store.messages.countByAccount(account.id) });
  const activeRun = (accountId: string): RunRecord | null => runs.active(accountId) ?? null;

  return [
    defineRoute({
      method: "GET", path: "/accounts", operationId: "listAccounts", tag: "accounts", summary: "List accounts", access: "viewer",
      responses: { 200: { description: "Every account, by name; never a password", schema: z.object({ items: z.array(accountSchema) }) } },
      handler: async () => {
        const [accounts, counts] = await Promise.all([inbound.listAccounts(), inbound.store.messages.countsByAccount()]);
        return { items: accounts.map((account) => ({ ...account, messageCount: counts.get(account.id) ?? 0 })) };
      },
    }),
    defineRoute({
      method: "POST", path: "/accounts", operationId: "createAccount", tag: "accounts", summary: "Add an account", access: "admin",
      description: "Validated as a whole; CONFIG_INVALID names each wrong field in `details.fields`.",
      body: accountInput, bodyValidatedByHandler: true,
      responses: { 201: { description: "The new account", schema: accountSchema } },
      handler: async ({ body }) => withCount(await inbound.addAccount(body as never)),
    }),
    defineRoute({
      method: "GET", path: "/accounts/{id}", operationId: "getAccount", tag: "accounts", summary: "One account (by id or name)", access: "viewer",
      params: idParams,
      responses: { 200: { description: "The account", schema: accountSchema } },
      handler: async ({ params }) => withCount(await inbound.getAccount(params.id)),
    }),
    defineRoute({
      method: "PATCH", path: "/accounts/{id}", operationId: "updateAccount", tag: "accounts", summary: "Change an account's settings", access: "admin",
      params: idParams, body: accountPatch, bodyValidatedByHandler: true,
      responses: { 200: { description: "The account after the change", schema: accountSchema } },
      handler: async ({ params, body }) => {
        if (body === null || typeof body !== "object" || Array.isArray(body)) {
          throw new ApiError("REQUEST_INVALID", { message: "The body must be a JSON object of settings.", details: { in: "body", fields: [{ field: "(body)", message: "must be an object" }] } });
        }
        return withCount(await inbound.updateAccount(params.id, body as Record<string, unknown>));
      },
    }),
    defineRoute({
      method: "DELETE", path: "/accounts/{id}", operationId: "deleteAccount", tag: "accounts", summary: "Remove an account and everything stored for it", access: "admin",
      params: idParams,
      responses: { 204: { description: "Removed" } },
      handler: async ({ params }) => {
        await inbound.removeAccount(params.id);
      },
    }),
    defineRoute({
      method: "POST", path: "/accounts/{id}/test", operationId: "testAccount", tag: "accounts", summary: "Test the connection: connect, sign in, count messages", access: "admin",
      description: "A failed test is an answer, not an error: `ok: false` with the catalogued code and a message in plain words.",
      params: idParams,
      responses: { 200: { description: "What worked, or what failed", schema: testResultSchema } },
      handler: async ({ params }) => {
        const account = await inbound.getAccount(params.id);
        try {
          return await inbound.testAccount(account.id, { signal: AbortSignal.timeout(Math.max(account.timeoutMs * 2, 10_000)) });
        } catch (error) {
          if (!isInboundError(error)) throw error;
          return { ok: false, summary: error.message, error: { code: error.code, message: error.message, details: error.details } };
        }
      },
    }),
    defineRoute({
      method: "GET", path: "/accounts/{id}/folders", operationId: "listFolders", tag: "accounts", summary: "The IMAP account's folders, from the server", access: "admin",
      params: idParams,
      responses: { 200: { description: "Folders on the server", schema: z.object({ items: z.array(folderSchema) }) } },
      handler: async ({ params }) => {
        return { items: await inbound.listFolders(params.id) };
      },
    }),
    defineRoute({
      method: "POST", path: "/accounts/{id}/fetch", operationId: "fetchAccount", tag: "accounts", summary: "Fetch now", access: "admin",
      description: "Starts one retrieval and answers at once with its run; poll GET /runs/{id} or follow `run.progress` on GET /events/stream.",
      params: idParams,
      responses: { 202: { description: "The run, started", schema: runSchema } },
      handler: async ({ params, reply }) => {
        const account = await inbound.getAccount(params.id);
        const run = runs.start(account);
        reply.header("location", `/api/v1/runs/${run.id}`);
        return run;
      },
    }),
    defineRoute({
      method: "GET", path: "/runs/{id}", operationId: "getRun", tag: "accounts", summary: "A fetch-now run and its progress", access: "viewer",
      params: idParams,
      responses: { 200: { description: "The run", schema: runSchema } },
      handler: async ({ params }) => {
        const run = runs.get(params.id);
        if (run === undefined) throw new ApiError("RUN_NOT_FOUND", { message: `No run has the id "${params.id}" in this process.` });
        return run;
      },
    }),
    defineRoute({
      method: "GET", path: "/accounts/{id}/state", operationId: "getAccountState", tag: "accounts", summary: "Live state: watch, subscription, running fetch", access: "viewer",
      params: idParams,
      responses: { 200: { description: "The account's state", schema: accountStateSchema } },
      handler: async ({ params }) => {
        const account = await inbound.getAccount(params.id);
        return {
          accountId: account.id,
          state: account.state,
          stateDetail: account.stateDetail,
          lastRunAt: account.lastRunAt,
          lastError: account.lastError,
          enabled: account.enabled,
          subscription: deps.subscriptions ? await deps.subscriptions.subscriptionStatus(account.id) : null,
          run: activeRun(account.id),
        };
      },
    }),
    defineRoute({
      method: "PUT", path: "/accounts/{id}/subscription", operationId: "subscribeAccount", tag: "accounts", summary: "Subscribe: watch the mailbox (IMAP IDLE, else polling)", access: "admin",
      params: idParams,
      responses: { 200: { description: "Subscribed", schema: subscriptionStatusSchema } },
      handler: async ({ params }) => {
        if (!deps.subscriptions) throw notRunning("subscription service");
        return deps.subscriptions.subscribe((await inbound.getAccount(params.id)).id);
      },
    }),
    defineRoute({
      method: "DELETE", path: "/accounts/{id}/subscription", operationId: "unsubscribeAccount", tag: "accounts", summary: "Unsubscribe: stop watching the mailbox", access: "admin",
      params: idParams,
      responses: { 200: { description: "Unsubscribed", schema: subscriptionStatusSchema } },
      handler: async ({ params }) => {
        if (!deps.subscriptions) throw notRunning("subscription service");
        return deps.subscriptions.unsubscribe((await inbound.getAccount(params.id)).id);
      },
    }),
    defineRoute({
      method: "GET", path: "/accounts/{id}/events", operationId: "listAccountEvents", tag: "events", summary: "The account's log: errors and state changes, newest first", access: "viewer",
      params: idParams,
      query: z.object({ limit: z.coerce.number().int("must be a whole number").min(1, "must be at least 1").max(1000, "must be at most 1000").optional() }),
      responses: { 200: { description: "Log entries", schema: z.object({ items: z.array(eventSchema) }) } },
      handler: async ({ params, query }) => {
        const account = await inbound.getAccount(params.id);
        return { items: await inbound.store.events.list({ accountId: account.id, limit: query.limit }) };
      },
    }),
  ];
}
