import type { Store } from "../../store/store.js";
import type { SessionRecord, UserRecord } from "../../store/user-repository.js";
import type { ApiTokenRecord } from "../../store/api-token-repository.js";
import type { UserRole } from "../../store/schema.js";
import { ApiError } from "../api-error.js";
import { newSecretToken, sha256Hex } from "./secret-token.js";

/** The cookie that carries a browser session id. */
export const SESSION_COOKIE = "inbound_session";

/** Who is calling: a signed-in browser (session) or a script (API token). */
export interface Principal {
  role: UserRole;
  via: "session" | "token";
  /** The signed-in user; `null` for an API token. */
  user: UserRecord | null;
  session: SessionRecord | null;
  tokenId: string | null;
}

/** Options for {@link createRequestAuthenticator}. */
export interface RequestAuthenticatorOptions {
  store: Pick<Store, "users" | "apiTokens">;
  /** Idle lifetime of a session; each use moves it on. Default 12 hours. */
  sessionTtlMs?: number;
  now?: () => Date;
}

/** Resolves credentials to a {@link Principal} and opens/closes sessions. */
export interface RequestAuthenticator {
  /**
   * `undefined` when the request carries no credentials (or only a stale
   * cookie). A bearer token that matches no live token throws UNAUTHENTICATED:
   * a script with a revoked token must hear so, not fall back to a cookie.
   * An Authorization header with another scheme (Basic from a proxy in front,
   * Negotiate) is not meant for Inbound and is ignored: the cookie decides.
   */
  authenticate(credentials: { authorization?: string; sessionCookie?: string }): Promise<Principal | undefined>;
  /** A new session for `user`; the returned cookie value is never stored. */
  startSession(user: UserRecord): Promise<{ cookieValue: string; session: SessionRecord; maxAgeSeconds: number }>;
  endSession(session: SessionRecord): Promise<void>;
}

/** How often at most a session's expiry or a token's last-used time is written. */
const TOUCH_EVERY_MS = 60_000;

/** Tokens minted by tokens minted by ...: deeper than this is not followed (and refused). */
const MAX_ISSUER_DEPTH = 16;

const lower = (a: UserRole, b: UserRole): UserRole => (a === "admin" && b === "admin" ? "admin" : "viewer");

/**
 * Session cookies and bearer tokens, both looked up by SHA-256.
 *
 * @example
 * ```ts
 * const auth = createRequestAuthenticator({ store });
 * const principal = await auth.authenticate({ authorization: req.headers.authorization, sessionCookie: req.cookies.inbound_session });
 * ```
 */
export function createRequestAuthenticator(options: RequestAuthenticatorOptions): RequestAuthenticator {
  const { users, apiTokens } = options.store;
  const ttl = options.sessionTtlMs ?? 12 * 60 * 60_000;
  const now = options.now ?? (() => new Date());

  /**
   * A token acts with no more than its issuer has now: the user who created
   * it (or, for a token created with a token, that token, and so up the
   * chain). `undefined` when an issuer is gone or revoked. User changes
   * already revoke or lower such tokens in the store; this also covers
   * tokens issued before that, or while the user was being removed.
   */
  async function roleWithinIssuer(record: ApiTokenRecord): Promise<UserRole | undefined> {
    let role = record.role;
    let issuer = record.createdBy;
    for (let depth = 0; issuer !== null; depth++) {
      if (depth >= MAX_ISSUER_DEPTH) return undefined;
      if (!issuer.startsWith("token:")) {
        const user = await users.find(issuer);
        return user === undefined ? undefined : lower(role, user.role);
      }
      const parent = await apiTokens.find(issuer.slice("token:".length));
      if (parent === undefined || parent.revokedAt !== null) return undefined;
      role = lower(role, parent.role);
      issuer = parent.createdBy;
    }
    return role;
  }

  async function fromBearer(token: string): Promise<Principal> {
    const record = await apiTokens.findActiveByHash(sha256Hex(token));
    const role = record === undefined ? undefined : await roleWithinIssuer(record);
    if (record === undefined || role === undefined) throw new ApiError("UNAUTHENTICATED", { message: "The bearer token is unknown or revoked; ask an admin for a new one (POST /api/v1/tokens)." });
    const at = now();
    if (record.lastUsedAt === null || at.getTime() - Date.parse(record.lastUsedAt) > TOUCH_EVERY_MS) await apiTokens.markUsed(record.id, at);
    return { role, via: "token", user: null, session: null, tokenId: record.id };
  }

  async function fromCookie(value: string): Promise<Principal | undefined> {
    const at = now();
    const session = await users.findSession(sha256Hex(value), at);
    if (session === undefined) return undefined;
    const user = await users.find(session.userId);
    if (user === undefined) return undefined;
    if (at.getTime() - Date.parse(session.lastSeenAt) > TOUCH_EVERY_MS) await users.touchSession(session.idHash, new Date(at.getTime() + ttl).toISOString());
    return { role: user.role, via: "session", user, session, tokenId: null };
  }

  return {
    async authenticate({ authorization, sessionCookie }) {
      if (authorization !== undefined && /^\s*Bearer(?:\s|$)/i.test(authorization)) {
        const match = /^\s*Bearer\s+(\S+)\s*$/i.exec(authorization);
        if (match === null) throw new ApiError("UNAUTHENTICATED", { message: "Authorization must be `Bearer <token>`, with the token from POST /api/v1/tokens." });
        return fromBearer(match[1]);
      }
      if (sessionCookie !== undefined && sessionCookie !== "") return fromCookie(sessionCookie);
      return undefined;
    },
    async startSession(user) {
      const cookieValue = newSecretToken();
      const session = await users.createSession({
        idHash: sha256Hex(cookieValue),
        userId: user.id,
        csrfToken: newSecretToken(),
        expiresAt: new Date(now().getTime() + ttl).toISOString(),
      });
      return { cookieValue, session, maxAgeSeconds: Math.floor(ttl / 1000) };
    },
    async endSession(session) {
      await users.deleteSession(session.idHash);
    },
  };
}
