import type {} from "@fastify/cookie";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ApiError } from "./api-error.js";
import { SESSION_COOKIE, type Principal, type RequestAuthenticator } from "./auth/request-authenticator.js";
import { sameSecret } from "./auth/secret-token.js";
import { parseRequestPart } from "./request-validation.js";
import type { RouteDefinition } from "./route-definition.js";

/** The header a signed-in browser sends its CSRF token in. */
export const CSRF_HEADER = "x-csrf-token";

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** `/accounts/{id}` → `/accounts/:id`. */
export function toFastifyPath(path: string): string {
  return path.replace(/\{(\w+)\}/g, ":$1");
}

/** The success status a route answers with unless its handler sets another. */
export function successStatus(route: RouteDefinition): number {
  return Math.min(...Object.keys(route.responses).map(Number).filter((s) => s >= 200 && s < 300));
}

/**
 * Authenticate, authorise, check CSRF, then validate — in that order, so a
 * caller without the right gets 401/403 whatever the request looks like.
 */
async function admit(route: RouteDefinition, request: FastifyRequest, authenticator: RequestAuthenticator): Promise<Principal | undefined> {
  const principal = await authenticator.authenticate({
    authorization: request.headers.authorization,
    sessionCookie: request.cookies[SESSION_COOKIE],
  });
  if (route.access === "public") return principal;
  if (principal === undefined) throw new ApiError("UNAUTHENTICATED");
  if (route.access === "admin" && principal.role !== "admin") {
    throw new ApiError("FORBIDDEN", { message: `${route.summary} needs the admin role; you are signed in as a ${principal.role}.` });
  }
  if (principal.via === "session" && UNSAFE.has(route.method)) {
    const sent = request.headers[CSRF_HEADER];
    if (typeof sent !== "string" || principal.session === null || !sameSecret(sent, principal.session.csrfToken)) {
      throw new ApiError("CSRF_TOKEN_INVALID", { message: "Send the CSRF token from GET /api/v1/session in the X-CSRF-Token header." });
    }
  }
  return principal;
}

/**
 * Mount `routes` under `prefix`. Handlers' JSON results are parsed through
 * the response schema of the status they answer with, so a field the schema
 * does not name (a password, a hash) cannot leave the server.
 *
 * @example
 * ```ts
 * registerRoutes(app, "/api/v1", [...accountRoutes(deps)], authenticator);
 * ```
 */
export function registerRoutes(app: FastifyInstance, prefix: string, routes: readonly RouteDefinition[], authenticator: RequestAuthenticator): void {
  for (const route of routes) {
    app.route({
      method: route.method,
      url: prefix + toFastifyPath(route.path),
      handler: async (request: FastifyRequest, reply: FastifyReply) => {
        const principal = await admit(route, request, authenticator);
        const params = route.params ? parseRequestPart("params", route.params, request.params) : undefined;
        const query = route.query ? parseRequestPart("query", route.query, request.query ?? {}) : undefined;
        const body = route.body && !route.bodyValidatedByHandler ? parseRequestPart("body", route.body, request.body ?? {}) : request.body;
        const result = await route.handler({ params, query, body, principal: principal as Principal, request, reply });
        if (result === reply || reply.sent) return reply;
        const status = reply.statusCode === 200 ? successStatus(route) : reply.statusCode;
        reply.code(status);
        const schema = route.responses[status]?.schema;
        if (schema === undefined) return reply.send();
        reply.header("cache-control", "no-store");
        return reply.type("application/json; charset=utf-8").send(JSON.stringify(schema.parse(result)));
      },
    });
  }
}
