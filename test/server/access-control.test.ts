import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureAdmin } from "../../src/server/api-server.js";
import { verifyPassword } from "../../src/server/auth/password-hash.js";
import { sha256Hex } from "../../src/server/auth/secret-token.js";
import { DIALECTS, openTestStore } from "../store/test-databases.js";
import { openApiFixture, type ApiFixture } from "./api-fixture.js";

function cookieOf(setCookie: string | string[] | undefined): string {
  const header = Array.isArray(setCookie) ? setCookie[0] : setCookie ?? "";
  return header.split(";")[0];
}

describe.each(DIALECTS)("access control (%s)", (dialect) => {
  let fx: ApiFixture;
  beforeAll(async () => {
    fx = await openApiFixture(dialect, { trustProxy: true, loginRateLimit: { maxFailures: 5, windowMs: 60_000 } });
    await fx.addUser("alice", "alice-password-1", "admin");
    await fx.addUser("victor", "victor-password-1", "viewer");
  });
  afterAll(async () => fx.close());

  const login = (username: string, password: string, headers: Record<string, string> = {}) =>
    fx.app.inject({ method: "POST", url: "/api/v1/session", headers: { "content-type": "application/json", ...headers }, payload: JSON.stringify({ username, password }) });

  it("signs in with a session cookie (HttpOnly, SameSite=Strict, Secure behind HTTPS) and says who I am with the CSRF token", async () => {
    const response = await login("alice", "alice-password-1");
    expect(response.statusCode).toBe(201);
    const setCookie = String(response.headers["set-cookie"]);
    expect(setCookie).toMatch(/^inbound_session=/);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect(setCookie).not.toMatch(/Secure/);
    const { csrfToken, user } = response.json();
    expect(user.username).toBe("alice");
    const me = await fx.app.inject({ method: "GET", url: "/api/v1/session", headers: { cookie: cookieOf(response.headers["set-cookie"]) } });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toMatchObject({ via: "session", role: "admin", csrfToken, user: { username: "alice" } });
    expect(JSON.stringify(me.json())).not.toContain("password");
    const https = await login("alice", "alice-password-1", { "x-forwarded-proto": "https" });
    expect(String(https.headers["set-cookie"])).toMatch(/Secure/);
  });

  it("stores only the hash of the session id", async () => {
    const response = await login("alice", "alice-password-1");
    const value = cookieOf(response.headers["set-cookie"]).split("=")[1];
    const rows = await fx.inbound.store.database.db.selectFrom("sessions").selectAll().execute();
    expect(rows.some((r) => r.id_hash === sha256Hex(value))).toBe(true);
    expect(JSON.stringify(rows)).not.toContain(value);
  });

  it("accepts a form post for sign-in", async () => {
    const response = await fx.app.inject({ method: "POST", url: "/api/v1/session", headers: { "content-type": "application/x-www-form-urlencoded" }, payload: "username=victor&password=victor-password-1" });
    expect(response.statusCode).toBe(201);
    expect(response.json().role).toBe("viewer");
  });

  it("refuses a cookie-authenticated change without the right CSRF token (403), accepts it with", async () => {
    const response = await login("alice", "alice-password-1");
    const cookie = cookieOf(response.headers["set-cookie"]);
    const { csrfToken } = response.json();
    const body = JSON.stringify({ name: "ci", role: "viewer" });
    const post = (headers: Record<string, string>) => fx.app.inject({ method: "POST", url: "/api/v1/tokens", headers: { cookie, "content-type": "application/json", ...headers }, payload: body });
    const missing = await post({});
    expect(missing.statusCode).toBe(403);
    expect(missing.json().code).toBe("CSRF_TOKEN_INVALID");
    const wrong = await post({ "x-csrf-token": `${csrfToken}x` });
    expect(wrong.statusCode).toBe(403);
    expect(wrong.json().code).toBe("CSRF_TOKEN_INVALID");
    expect((await post({ "x-csrf-token": csrfToken })).statusCode).toBe(201);
    // Safe methods need no token.
    expect((await fx.app.inject({ method: "GET", url: "/api/v1/tokens", headers: { cookie } })).statusCode).toBe(200);
  });

  it("signs out: the cookie stops working", async () => {
    const response = await login("victor", "victor-password-1");
    const cookie = cookieOf(response.headers["set-cookie"]);
    const out = await fx.app.inject({ method: "DELETE", url: "/api/v1/session", headers: { cookie, "x-csrf-token": response.json().csrfToken } });
    expect(out.statusCode).toBe(204);
    expect((await fx.app.inject({ method: "GET", url: "/api/v1/session", headers: { cookie } })).statusCode).toBe(401);
  });

  it("refuses a sign-in posted from another site", async () => {
    const response = await login("alice", "alice-password-1", { origin: "https://evil.example", host: "inbound.local" });
    expect(response.statusCode).toBe(403);
  });

  it("rate-limits failed sign-ins per username and address: 429 with Retry-After, even for the right password", async () => {
    const from = { "x-forwarded-for": "203.0.113.9" };
    for (let i = 0; i < 5; i++) {
      const failed = await login("victor", "wrong-password", from);
      expect(failed.statusCode).toBe(401);
      expect(failed.json().code).toBe("INVALID_CREDENTIALS");
    }
    const blocked = await login("victor", "victor-password-1", from);
    expect(blocked.statusCode).toBe(429);
    expect(blocked.json().code).toBe("RATE_LIMITED");
    expect(Number(blocked.headers["retry-after"])).toBeGreaterThan(0);
    // Another address is not blocked.
    expect((await login("victor", "victor-password-1", { "x-forwarded-for": "203.0.113.10" })).statusCode).toBe(201);
  });

  it("an unknown user and a wrong password answer the same", async () => {
    const unknown = await login("nobody", "whatever-password");
    expect(unknown.statusCode).toBe(401);
    expect(unknown.json()).toEqual((await login("alice", "not-her-password")).json());
  });

  it("API tokens: shown once, stored as SHA-256, listed without the token, last use recorded, revocable", async () => {
    const created = await fx.call("POST", "/api/v1/tokens", { body: { name: "reporting", role: "viewer" } });
    expect(created.statusCode).toBe(201);
    const { token, id } = created.json();
    expect(token).toMatch(/^inb_/);
    const row = await fx.inbound.store.database.db.selectFrom("api_tokens").selectAll().where("id", "=", id).executeTakeFirstOrThrow();
    expect(row.token_hash).toBe(sha256Hex(token));
    expect(JSON.stringify(row)).not.toContain(token);
    const listed = await fx.call("GET", "/api/v1/tokens");
    expect(listed.body).not.toContain(token);
    expect(listed.body).not.toContain(row.token_hash);
    const listedToken = listed.json().items.find((t: { id: string }) => t.id === id);
    expect(listedToken).toMatchObject({ name: "reporting", role: "viewer", lastUsedAt: null, revokedAt: null });
    expect((await fx.call("GET", "/api/v1/accounts", { token })).statusCode).toBe(200);
    expect((await fx.call("GET", "/api/v1/tokens")).json().items.find((t: { id: string }) => t.id === id).lastUsedAt).not.toBeNull();
    expect((await fx.call("DELETE", `/api/v1/tokens/${id}`)).statusCode).toBe(204);
    const after = await fx.call("GET", "/api/v1/accounts", { token });
    expect(after.statusCode).toBe(401);
    expect((await fx.call("DELETE", `/api/v1/tokens/${id}`)).json().code).toBe("TOKEN_NOT_FOUND");
  });

  it("a viewer cannot write: tokens, users, accounts", async () => {
    const asViewer = (method: string, url: string, body?: unknown) => fx.call(method, url, { token: fx.viewerToken, body });
    expect((await asViewer("POST", "/api/v1/tokens", { name: "x", role: "admin" })).statusCode).toBe(403);
    expect((await asViewer("POST", "/api/v1/users", { username: "mallory", password: "mallory-password", role: "admin" })).statusCode).toBe(403);
    expect((await asViewer("POST", "/api/v1/accounts", { name: "x" })).statusCode).toBe(403);
    expect((await asViewer("GET", "/api/v1/users")).statusCode).toBe(403);
    expect((await asViewer("GET", "/api/v1/accounts")).statusCode).toBe(200);
  });

  it("users: created with a scrypt hash, never returned; validation names fields; the last admin stays", async () => {
    const invalid = await fx.call("POST", "/api/v1/users", { body: { username: "", password: "short", role: "root" } });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json().code).toBe("REQUEST_INVALID");
    expect(invalid.json().details.fields.map((f: { field: string }) => f.field).sort()).toEqual(["password", "role", "username"]);
    const created = await fx.call("POST", "/api/v1/users", { body: { username: "carol", password: "carol-password-1", role: "viewer" } });
    expect(created.statusCode).toBe(201);
    expect(created.body).not.toContain("carol-password-1");
    expect(Object.keys(created.json()).sort()).toEqual(["createdAt", "id", "role", "updatedAt", "username"]);
    const stored = await fx.inbound.store.users.findCredentials("carol");
    expect(stored!.passwordHash).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(await verifyPassword("carol-password-1", stored!.passwordHash)).toBe(true);
    expect((await fx.call("POST", "/api/v1/users", { body: { username: "carol", password: "carol-password-2", role: "viewer" } })).json().code).toBe("USER_EXISTS");
    const promoted = await fx.call("PATCH", `/api/v1/users/${created.json().id}`, { body: { role: "admin" } });
    expect(promoted.json().role).toBe("admin");
    expect((await fx.call("DELETE", `/api/v1/users/${created.json().id}`)).statusCode).toBe(204);
    const alice = (await fx.call("GET", "/api/v1/users")).json().items.find((u: { username: string }) => u.username === "alice");
    const demote = await fx.call("PATCH", `/api/v1/users/${alice.id}`, { body: { role: "viewer" } });
    expect(demote.statusCode).toBe(409);
    expect(demote.json().code).toBe("LAST_ADMIN");
  });
});

describe.each(DIALECTS)("ensureAdmin (%s)", (dialect) => {
  it("creates admin from INBOUND_ADMIN_PASSWORD once, and never again", async () => {
    const { store, cleanup } = await openTestStore(dialect);
    try {
      expect(await ensureAdmin({ store, env: { INBOUND_ADMIN_PASSWORD: "from-the-environment" } })).toEqual({ created: true, username: "admin" });
      const admin = await store.users.findCredentials("admin");
      expect(admin!.user.role).toBe("admin");
      expect(await verifyPassword("from-the-environment", admin!.passwordHash)).toBe(true);
      expect(await ensureAdmin({ store, env: { INBOUND_ADMIN_PASSWORD: "changed-later" } })).toEqual({ created: false });
      expect(await verifyPassword("from-the-environment", (await store.users.findCredentials("admin"))!.passwordHash)).toBe(true);
    } finally {
      await cleanup();
    }
  });

  it("without the variable generates a password and returns it once", async () => {
    const { store, cleanup } = await openTestStore(dialect);
    try {
      const result = await ensureAdmin({ store, env: {} });
      expect(result.created).toBe(true);
      const password = result.created ? result.generatedPassword! : "";
      expect(password.length).toBeGreaterThanOrEqual(20);
      const admin = await store.users.findCredentials("admin");
      expect(admin!.passwordHash).not.toContain(password);
      expect(await verifyPassword(password, admin!.passwordHash)).toBe(true);
      expect(await ensureAdmin({ store, env: {} })).toEqual({ created: false });
    } finally {
      await cleanup();
    }
  });
});
