import type { ServerResponse } from "node:http";
import { z } from "zod";
import { defineRoute, type RouteDefinition } from "../route-definition.js";
import type { RouteDeps } from "../route-deps.js";
import { eventSchema } from "./account-routes.js";
import { SESSION_COOKIE } from "../auth/request-authenticator.js";

/** Open event streams, so the server can end them when it closes. */
export interface LiveStreams {
  /** End every open stream (server shutdown). */
  closeAll(): void;
}

/** The service-wide log and the live event stream. */
export function eventRoutes(deps: RouteDeps, options: { heartbeatMs?: number } = {}): { routes: RouteDefinition[]; streams: LiveStreams } {
  const { inbound, live } = deps;
  const open = new Set<ServerResponse>();
  const heartbeatMs = options.heartbeatMs ?? 15_000;

  const routes = [
    defineRoute({
      method: "GET", path: "/events", operationId: "listEvents", tag: "events", summary: "The log of every account and the service, newest first", access: "viewer",
      query: z.object({
        account: z.string().max(200).optional().describe("Account name or id"),
        limit: z.coerce.number().int("must be a whole number").min(1, "must be at least 1").max(1000, "must be at most 1000").optional(),
      }),
      responses: { 200: { description: "Log entries", schema: z.object({ items: z.array(eventSchema) }) } },
      handler: async ({ query }) => {
        const accountId = query.account === undefined ? undefined : (await inbound.getAccount(query.account)).id;
        return { items: await inbound.store.events.list({ accountId, limit: query.limit }) };
      },
    }),
    defineRoute({
      method: "GET", path: "/events/stream", operationId: "streamEvents", tag: "events", summary: "Live updates as server-sent events", access: "viewer",
      description:
        "Each event is `event: <type>` with `data: {type, accountId, data, at}`: `account.state` (watch state changes), `run.progress` and `run.finished` (fetch now), " +
        "`message.stored`, and whatever the delivery layer publishes. A comment line is sent every 15 s to keep proxies from closing the stream; " +
        "the credentials are checked again then, and the stream ends once they no longer hold (signed out, token revoked, user removed).",
      query: z.object({ account: z.string().max(200).optional().describe("Only events of this account (id)") }),
      responses: { 200: { description: "An endless text/event-stream", contentType: "text/event-stream" } },
      handler: async ({ query, request, reply }) => {
        const accountId = query.account === undefined ? undefined : (await inbound.getAccount(query.account)).id;
        reply.hijack();
        const raw = reply.raw;
        raw.writeHead(200, {
          "content-type": "text/event-stream; charset=utf-8",
          "cache-control": "no-store",
          connection: "keep-alive",
          "x-accel-buffering": "no",
          "x-content-type-options": "nosniff",
        });
        raw.write("retry: 3000\n: connected\n\n");
        let sequence = 0;
        const unsubscribe = live.subscribe((event) => {
          if (accountId !== undefined && event.accountId !== accountId) return;
          raw.write(`id: ${++sequence}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
        });
        // Credentials are checked again at every heartbeat: a stream outlives no sign-out, revoked
        // token or removed user by more than one interval.
        const credentials = { authorization: request.headers.authorization, sessionCookie: request.cookies[SESSION_COOKIE] };
        const heartbeat = setInterval(() => {
          deps.authenticator.authenticate(credentials).then(
            (principal) => (principal === undefined ? raw.end() : raw.write(": ping\n\n")),
            () => raw.end(),
          );
        }, heartbeatMs);
        open.add(raw);
        const cleanup = () => {
          clearInterval(heartbeat);
          unsubscribe();
          open.delete(raw);
        };
        request.raw.once("close", cleanup);
        raw.once("close", cleanup);
        return reply;
      },
    }),
  ];
  return {
    routes,
    streams: {
      closeAll() {
        for (const raw of [...open]) raw.end();
      },
    },
  };
}
