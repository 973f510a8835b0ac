import type { FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { ApiError } from "../api-error.js";
import { burnPasswordCheck, hashPassword, verifyPassword } from "../auth/password-hash.js";
import { SESSION_COOKIE } from "../auth/request-authenticator.js";
import { defineRoute, type RouteDefinition } from "../route-definition.js";
import type { RouteDeps } from "../route-deps.js";
import { newPasswordSchema, userSchema } from "./user-routes.js";

const loginInput = z.object({ username: z.string().min(1, "must not be empty").max(200), password: z.string().min(1, "must not be empty").max(1024) }).meta({ id: "LoginInput" });

const sessionSchema = z
  .object({
    via: z.enum(["session", "token"]),
    role: z.enum(["admin", "viewer"]),
    user: userSchema.nullable().describe("The signed-in user; `null` for an API token"),
    csrfToken: z.string().nullable().describe("Send it as X-CSRF-Token on every POST, PUT, PATCH and DELETE; `null` for an API token"),
    expiresAt: z.string().nullable(),
  })
  .meta({ id: "Session" });

function setSessionCookie(request: FastifyRequest, reply: FastifyReply, value: string, maxAgeSeconds: number): void {
  reply.setCookie(SESSION_COOKIE, value, { path: "/", httpOnly: true, sameSite: "strict", secure: request.protocol === "https", maxAge: maxAgeSeconds });
}

/** Refuse a sign-in posted from another site (login CSRF); a request without Origin (curl, scripts) is fine. */
function checkOrigin(request: FastifyRequest): void {
  const origin = request.headers.origin;
  if (origin === undefined || origin === "null") return;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    host = "";
  }
  if (host !== request.headers.host) throw new ApiError("CSRF_TOKEN_INVALID", { message: "Sign-in from another site is refused." });
}

/** Browser sign-in: create a session (cookie), who am I, sign out, change own password. */
export function sessionRoutes(deps: RouteDeps): RouteDefinition[] {
  const { users } = deps.inbound.store;
  const { authenticator, loginLimiter } = deps;

  return [
    defineRoute({
      method: "POST", path: "/session", operationId: "createSession", tag: "session", summary: "Sign in", access: "public",
      description:
        "JSON or a form. Sets the HttpOnly, SameSite=Strict session cookie (Secure over HTTPS) and returns the CSRF token. " +
        "Five failed attempts per username and address within 15 minutes answer 429 with Retry-After.",
      body: loginInput, bodyContentTypes: ["application/x-www-form-urlencoded"],
      responses: { 201: { description: "Signed in", schema: sessionSchema } },
      handler: async ({ body, request, reply }) => {
        checkOrigin(request);
        const key = `${body.username.toLowerCase()}|${request.ip}`;
        const verdict = loginLimiter.check(key);
        if (verdict.blocked) {
          throw new ApiError("RATE_LIMITED", { message: `Too many failed sign-ins; try again in ${verdict.retryAfterSeconds} s.`, headers: { "retry-after": String(verdict.retryAfterSeconds) }, details: { retryAfterSeconds: verdict.retryAfterSeconds } });
        }
        const found = await users.findCredentials(body.username);
        const ok = found === undefined ? (await burnPasswordCheck(body.password), false) : await verifyPassword(body.password, found.passwordHash);
        if (!ok || found === undefined) {
          loginLimiter.recordFailure(key);
          deps.log.warn({ username: body.username, ip: request.ip }, "sign-in failed");
          throw new ApiError("INVALID_CREDENTIALS");
        }
        loginLimiter.reset(key);
        const { cookieValue, session, maxAgeSeconds } = await authenticator.startSession(found.user);
        setSessionCookie(request, reply, cookieValue, maxAgeSeconds);
        deps.log.info({ username: found.user.username, ip: request.ip }, "signed in");
        return { via: "session", role: found.user.role, user: found.user, csrfToken: session.csrfToken, expiresAt: session.expiresAt };
      },
    }),
    defineRoute({
      method: "GET", path: "/session", operationId: "getSession", tag: "session", summary: "Who am I, and the CSRF token", access: "viewer",
      responses: { 200: { description: "The caller", schema: sessionSchema } },
      handler: async ({ principal }) => ({
        via: principal.via,
        role: principal.role,
        user: principal.user,
        csrfToken: principal.session?.csrfToken ?? null,
        expiresAt: principal.session?.expiresAt ?? null,
      }),
    }),
    defineRoute({
      method: "DELETE", path: "/session", operationId: "deleteSession", tag: "session", summary: "Sign out", access: "viewer",
      responses: { 204: { description: "Signed out; the cookie is cleared" } },
      handler: async ({ principal, reply }) => {
        if (principal.session !== null) await authenticator.endSession(principal.session);
        reply.clearCookie(SESSION_COOKIE, { path: "/" });
      },
    }),
    defineRoute({
      method: "PUT", path: "/session/password", operationId: "changeOwnPassword", tag: "session", summary: "Change your own password", access: "viewer",
      description: "Signs you out everywhere else; this browser gets a new session (and CSRF token).",
      body: z.object({ currentPassword: z.string().min(1, "must not be empty").max(1024), newPassword: newPasswordSchema }).strict().meta({ id: "PasswordChange" }),
      responses: { 200: { description: "Changed", schema: sessionSchema } },
      handler: async ({ body, principal, request, reply }) => {
        if (principal.user === null) throw new ApiError("FORBIDDEN", { message: "An API token has no password; sign in as a user." });
        const found = await users.findCredentials(principal.user.username);
        if (found === undefined || !(await verifyPassword(body.currentPassword, found.passwordHash))) {
          throw new ApiError("INVALID_CREDENTIALS", { message: "The current password is wrong.", details: { fields: [{ field: "currentPassword", message: "is wrong" }] } });
        }
        await users.update(found.user.id, { passwordHash: await hashPassword(body.newPassword) });
        await users.deleteSessionsOf(found.user.id);
        const { cookieValue, session, maxAgeSeconds } = await authenticator.startSession(found.user);
        setSessionCookie(request, reply, cookieValue, maxAgeSeconds);
        return { via: "session", role: found.user.role, user: found.user, csrfToken: session.csrfToken, expiresAt: session.expiresAt };
      },
    }),
  ];
}
