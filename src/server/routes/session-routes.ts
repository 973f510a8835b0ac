import type { FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { ApiError } from "../api-error.js";
import { createPasswordCheckGate, type PasswordCheckGate } from "../auth/password-check-gate.js";
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

/** Options for {@link sessionRoutes}. */
export interface SessionRouteOptions {
  /** Every password check (scrypt) goes through it; default: a gate of its own (2 at once). */
  passwordChecks?: PasswordCheckGate;
  /**
   * The address browsers use (`INBOUND_PUBLIC_URL`). When it is https the
   * cookie is always Secure, even if the proxy in front is not trusted to
   * say so; sign-ins posted from its origin are accepted.
   */
  publicUrl?: string;
}

function publicOriginOf(publicUrl: string | undefined): URL | undefined {
  if (publicUrl === undefined || publicUrl === "") return undefined;
  try {
    return new URL(publicUrl);
  } catch {
    return undefined;
  }
}

const rateLimited = (retryAfterSeconds: number) =>
  new ApiError("RATE_LIMITED", {
    message: `Too many failed sign-ins for this username or from this address; try again in ${retryAfterSeconds} s.`,
    headers: { "retry-after": String(retryAfterSeconds) },
    details: { retryAfterSeconds },
  });

const crossSite = (message: string) => new ApiError("CSRF_TOKEN_INVALID", { message: `${message} Sign in from the admin page itself, or from a script without Origin and Sec-Fetch-Site headers.` });

/**
 * Refuse a sign-in posted from another site (login CSRF). Scripts and curl
 * send neither Origin nor Sec-Fetch-Site and pass; a browser sends at least
 * one. `Origin: null` (a sandboxed frame, a data: or file: page, a
 * cross-site redirect) is never the admin page.
 */
function checkOrigin(request: FastifyRequest, publicOrigin: URL | undefined): void {
  const origin = request.headers.origin;
  if (origin === undefined) {
    const site = request.headers["sec-fetch-site"];
    if (site === undefined || site === "same-origin" || site === "none") return;
    throw crossSite(`Sign-in from another site is refused (Sec-Fetch-Site: ${String(site)}).`);
  }
  if (origin === "null") throw crossSite("Sign-in from an opaque origin (Origin: null) is refused.");
  let from: URL | undefined;
  try {
    from = new URL(origin);
  } catch {
    from = undefined;
  }
  // request.host follows X-Forwarded-Host from a trusted proxy; the Host header is what reached us.
  if (from !== undefined && (from.host === request.host || from.host === request.headers.host || from.origin === publicOrigin?.origin)) return;
  throw crossSite(`Sign-in from another site (${origin}) is refused.`);
}

/** Browser sign-in: create a session (cookie), who am I, sign out, change own password. */
export function sessionRoutes(deps: RouteDeps, options: SessionRouteOptions = {}): RouteDefinition[] {
  const { users } = deps.inbound.store;
  const { authenticator, loginLimiter } = deps;
  const passwordChecks = options.passwordChecks ?? createPasswordCheckGate();
  const publicOrigin = publicOriginOf(options.publicUrl);

  const setSessionCookie = (request: FastifyRequest, reply: FastifyReply, value: string, maxAgeSeconds: number) => {
    // Secure whenever the browser is on HTTPS: seen directly, through a trusted proxy's X-Forwarded-Proto, or promised by the public URL.
    const secure = request.protocol === "https" || publicOrigin?.protocol === "https:";
    reply.setCookie(SESSION_COOKIE, value, { path: "/", httpOnly: true, sameSite: "strict", secure, maxAge: maxAgeSeconds });
  };

  /**
   * Check a password for `username`, counted by the sign-in limits before
   * the check starts (so checks in flight count) and run through the gate
   * (so a flood cannot take the thread pool). Throws RATE_LIMITED when
   * blocked; answers whether the password is right.
   */
  const checkPassword = async (request: FastifyRequest, username: string, check: () => Promise<boolean>): Promise<boolean> => {
    const verdict = loginLimiter.begin({ username, address: request.ip });
    if (verdict.blocked) throw rateLimited(verdict.retryAfterSeconds);
    try {
      const ok = await passwordChecks.run(check);
      if (ok) verdict.attempt.succeeded();
      return ok;
    } catch (error) {
      verdict.attempt.cancelled();
      throw error;
    }
  };

  return [
    defineRoute({
      method: "POST", path: "/session", operationId: "createSession", tag: "session", summary: "Sign in", access: "public",
      description:
        "JSON or a form. Sets the HttpOnly, SameSite=Strict session cookie (Secure over HTTPS) and returns the CSRF token. " +
        "Five failed attempts per username and address, or twenty per address, within 15 minutes answer 429 with Retry-After; " +
        "an attempt counts from when it starts. Refused with 403 when posted from another site (Origin, or Sec-Fetch-Site without Origin).",
      body: loginInput, bodyContentTypes: ["application/x-www-form-urlencoded"],
      responses: { 201: { description: "Signed in", schema: sessionSchema } },
      handler: async ({ body, request, reply }) => {
        checkOrigin(request, publicOrigin);
        const found = await users.findCredentials(body.username);
        // An unknown username costs a check too: it must answer as slowly as a wrong password.
        const ok = await checkPassword(request, body.username, async () =>
          found === undefined ? (await burnPasswordCheck(body.password), false) : verifyPassword(body.password, found.passwordHash),
        );
        if (!ok || found === undefined) {
          // The typed name only when it names a user: an unknown one may be a password pasted into the wrong field.
          deps.log.warn(found === undefined ? { knownUser: false, ip: request.ip } : { username: found.user.username, knownUser: true, ip: request.ip }, "sign-in failed");
          throw new ApiError("INVALID_CREDENTIALS");
        }
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
        reply.clearCookie(SESSION_COOKIE, { path: "/", httpOnly: true, sameSite: "strict" });
      },
    }),
    defineRoute({
      method: "PUT", path: "/session/password", operationId: "changeOwnPassword", tag: "session", summary: "Change your own password", access: "viewer",
      description: "Signs you out everywhere else; this browser gets a new session (and CSRF token). A wrong current password counts against the sign-in limits.",
      body: z.object({ currentPassword: z.string().min(1, "must not be empty").max(1024), newPassword: newPasswordSchema }).strict().meta({ id: "PasswordChange" }),
      responses: { 200: { description: "Changed", schema: sessionSchema } },
      handler: async ({ body, principal, request, reply }) => {
        if (principal.user === null) throw new ApiError("FORBIDDEN", { message: "An API token has no password; sign in as a user." });
        const found = await users.findCredentials(principal.user.username);
        if (found === undefined) throw new ApiError("UNAUTHENTICATED", { message: "Your user no longer exists; sign in again." });
        if (!(await checkPassword(request, found.user.username, () => verifyPassword(body.currentPassword, found.passwordHash)))) {
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
