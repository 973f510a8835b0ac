import { Writable } from "node:stream";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/core/logger.js";
import { buildApiServer, parseTrustProxy, type ApiServerDeps } from "../../src/server/api-server.js";
import { DIALECTS } from "../store/test-databases.js";
import { openApiFixture, type ApiFixture } from "./api-fixture.js";

function cookieOf(setCookie: string | string[] | undefined): string {
  const header = Array.isArray(setCookie) ? setCookie[0] : (setCookie ?? "");
  return header.split(";")[0];
}

describe.each(DIALECTS)("sign-in security (%s)", (dialect) => {
  let fx: ApiFixture;
  let clock = Date.now();
  let logged = "";
  const extraApps: FastifyInstance[] = [];

  beforeAll(async () => {
    const logger = createLogger({ level: "info", destination: new Writable({ write: (chunk, _encoding, done) => ((logged += String(chunk)), done()) }) });
    fx = await openApiFixture(dialect, { trustProxy: true, logger, loginRateLimit: { maxFailures: 5, maxFailuresPerAddress: 8, windowMs: 60_000, now: () => clock } });
    await fx.addUser("alice", "alice-password-1", "admin");
    await fx.addUser("victor", "victor-password-1", "viewer");
  });
  afterAll(async () => {
    for (const app of extraApps) await app.close();
    await fx.close();
  });

  /** Another server on the same store, e.g. with other proxy settings. */
  const appWith = async (deps: Partial<ApiServerDeps>) => {
    const app = await buildApiServer({ inbound: fx.inbound, webRoot: null, ...deps });
    extraApps.push(app);
    return app;
  };
  const login = (username: string, password: string, headers: Record<string, string> = {}, app = fx.app) =>
    app.inject({ method: "POST", url: "/api/v1/session", headers: { "content-type": "application/json", ...headers }, payload: JSON.stringify({ username, password }) });
  const statuses = (responses: Array<{ statusCode: number }>) => responses.map((r) => r.statusCode).sort();

  it("counts sign-ins before the password check: of 25 parallel wrong passwords only the limit are checked (401), the rest answer 429", async () => {
    const from = { "x-forwarded-for": "203.0.113.20" };
    const responses = await Promise.all(Array.from({ length: 25 }, () => login("victor", "wrong-password", from)));
    expect(statuses(responses).filter((s) => s === 401)).toHaveLength(5);
    expect(statuses(responses).filter((s) => s === 429)).toHaveLength(20);
    const blocked = responses.find((r) => r.statusCode === 429)!;
    expect(blocked.json()).toMatchObject({ code: "RATE_LIMITED", retryable: true, details: { retryAfterSeconds: expect.any(Number) } });
    expect(Number(blocked.headers["retry-after"])).toBeGreaterThan(0);
    // Even the right password waits for the window ...
    expect((await login("victor", "victor-password-1", from)).statusCode).toBe(429);
    // ... and works once it has passed.
    clock += 60_000;
    expect((await login("victor", "victor-password-1", from)).statusCode).toBe(201);
  });

  it("limits one address across usernames (a password sprayed over many users)", async () => {
    const from = { "x-forwarded-for": "203.0.113.30" };
    const sprayed = await Promise.all(Array.from({ length: 8 }, (_, i) => login(`user${i}`, "Summer2024!", from)));
    expect(statuses(sprayed)).toEqual(Array(8).fill(401));
    const next = await login("alice", "alice-password-1", from);
    expect(next.statusCode).toBe(429);
    expect(next.json().message).toMatch(/try again in \d+ s/);
    expect((await login("alice", "alice-password-1", { "x-forwarded-for": "203.0.113.31" })).statusCode).toBe(201);
    clock += 60_000;
  });

  it("runs a bounded number of password checks at once; a flood beyond the waiting room is told to retry", async () => {
    const app = await appWith({ trustProxy: true, passwordChecks: { concurrency: 1, maxWaiting: 1 } });
    const responses = await Promise.all(Array.from({ length: 6 }, (_, i) => login("alice", "alice-password-1", { "x-forwarded-for": `198.51.100.${i + 1}` }, app)));
    expect(statuses(responses)).toEqual([201, 201, 429, 429, 429, 429]);
    const shed = responses.find((r) => r.statusCode === 429)!;
    expect(shed.json()).toMatchObject({ code: "RATE_LIMITED", retryable: true, message: expect.stringMatching(/being checked right now; try again in 1 s/) });
    expect(shed.headers["retry-after"]).toBe("1");
    // Shed attempts were never checked, so they do not count against the address.
    expect((await login("alice", "alice-password-1", { "x-forwarded-for": "198.51.100.3" }, app)).statusCode).toBe(201);
  });

  it("behind a trusted proxy each client has its own limit; with the proxy not trusted they share the proxy's", async () => {
    // app.inject comes from 127.0.0.1, which plays the proxy here.
    const trusted = await appWith({ trustProxy: parseTrustProxy("127.0.0.1"), loginRateLimit: { maxFailures: 2 } });
    for (let i = 0; i < 2; i++) expect((await login("victor", "wrong-password", { "x-forwarded-for": "192.0.2.50" }, trusted)).statusCode).toBe(401);
    expect((await login("victor", "wrong-password", { "x-forwarded-for": "192.0.2.50" }, trusted)).statusCode).toBe(429);
    expect((await login("victor", "victor-password-1", { "x-forwarded-for": "192.0.2.51" }, trusted)).statusCode).toBe(201);

    const untrusted = await appWith({ trustProxy: parseTrustProxy("10.0.0.1"), loginRateLimit: { maxFailures: 2 } });
    for (let i = 0; i < 2; i++) expect((await login("victor", "wrong-password", { "x-forwarded-for": "192.0.2.50" }, untrusted)).statusCode).toBe(401);
    expect((await login("victor", "victor-password-1", { "x-forwarded-for": "192.0.2.51" }, untrusted)).statusCode).toBe(429);
  });

  it("marks the cookie Secure when the request is HTTPS through a trusted proxy, or the public URL is https", async () => {
    const secure = (response: { headers: Record<string, unknown> }) => /;\s*Secure/i.test(String(response.headers["set-cookie"]));
    const https = { "x-forwarded-proto": "https" };
    expect(secure(await login("alice", "alice-password-1"))).toBe(false);
    expect(secure(await login("alice", "alice-password-1", https))).toBe(true);

    const direct = await appWith({});
    expect(secure(await login("alice", "alice-password-1", https, direct))).toBe(false); // not trusted: the header could be anyone's
    const viaProxy = await appWith({ trustProxy: parseTrustProxy("127.0.0.1") });
    expect(secure(await login("alice", "alice-password-1", https, viaProxy))).toBe(true);
    expect(secure(await login("alice", "alice-password-1", {}, viaProxy))).toBe(false);
    const publicHttps = await appWith({ publicUrl: "https://inbound.example.com" });
    expect(secure(await login("alice", "alice-password-1", {}, publicHttps))).toBe(true);
    const publicHttp = await appWith({ publicUrl: "http://inbound.internal:8025" });
    expect(secure(await login("alice", "alice-password-1", {}, publicHttp))).toBe(false);
  });

  it("refuses sign-in CSRF: Origin null, another origin, or a cross-site Sec-Fetch-Site without Origin", async () => {
    const refused = async (headers: Record<string, string>, app = fx.app) => {
      const response = await login("alice", "alice-password-1", { host: "inbound.local", ...headers }, app);
      expect(response.statusCode, JSON.stringify(headers)).toBe(403);
      expect(response.json()).toMatchObject({ code: "CSRF_TOKEN_INVALID", retryable: false, message: expect.stringMatching(/refused.*\. Sign in from the admin page/) });
    };
    const accepted = async (headers: Record<string, string>, app = fx.app) => {
      expect((await login("alice", "alice-password-1", { host: "inbound.local", ...headers }, app)).statusCode, JSON.stringify(headers)).toBe(201);
    };
    await refused({ origin: "null" });
    await refused({ origin: "https://evil.example" });
    await refused({ origin: "not a url" });
    await refused({ "sec-fetch-site": "cross-site" });
    await refused({ "sec-fetch-site": "same-site" });
    await accepted({ origin: "http://inbound.local" });
    await accepted({ "sec-fetch-site": "same-origin" });
    await accepted({ "sec-fetch-site": "none" });
    await accepted({}); // a script
    // Behind a proxy that rewrites Host, the public URL's origin is the admin page's.
    const app = await appWith({ publicUrl: "https://inbound.example.com/" });
    await accepted({ host: "127.0.0.1:8025", origin: "https://inbound.example.com", "sec-fetch-site": "same-origin" }, app);
    await refused({ host: "127.0.0.1:8025", origin: "https://other.example.com" }, app);
  });

  it("logs a failed sign-in's username only when it names a user (an unknown one may be a pasted password)", async () => {
    logged = "";
    await login("correct-horse-battery-staple", "x", { "x-forwarded-for": "203.0.113.40" });
    await login("alice", "not-her-password", { "x-forwarded-for": "203.0.113.40" });
    const lines = logged.split("\n").filter((l) => l.includes("sign-in failed")).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    expect(logged).not.toContain("correct-horse-battery-staple");
    expect(lines[0]).toMatchObject({ knownUser: false, ip: "203.0.113.40" });
    expect(lines[1]).toMatchObject({ knownUser: true, username: "alice" });
  });

  it("ignores a non-Bearer Authorization header (Basic from a proxy): the cookie decides", async () => {
    const basic = { authorization: `Basic ${Buffer.from("proxy:secret").toString("base64")}` };
    const signedIn = await login("victor", "victor-password-1", basic);
    expect(signedIn.statusCode).toBe(201);
    const cookie = cookieOf(signedIn.headers["set-cookie"]);
    const me = await fx.app.inject({ method: "GET", url: "/api/v1/session", headers: { cookie, ...basic } });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toMatchObject({ via: "session", user: { username: "victor" } });
    const change = await fx.app.inject({ method: "DELETE", url: "/api/v1/session", headers: { cookie, ...basic, "x-csrf-token": signedIn.json().csrfToken } });
    expect(change.statusCode).toBe(204);
    // Without a cookie it is just not signed in; a malformed or unknown bearer token still fails loudly.
    expect((await fx.app.inject({ method: "GET", url: "/api/v1/session", headers: basic })).json().code).toBe("UNAUTHENTICATED");
    const malformed = await fx.app.inject({ method: "GET", url: "/api/v1/session", headers: { authorization: "Bearer" } });
    expect(malformed.statusCode).toBe(401);
    expect(malformed.json().message).toMatch(/Bearer <token>/);
    expect((await fx.app.inject({ method: "GET", url: "/api/v1/session", headers: { authorization: "bearer inb_nope" } })).statusCode).toBe(401);
  });

  it("counts a wrong current password on a password change against the sign-in limits", async () => {
    const from = { "x-forwarded-for": "203.0.113.60" };
    const signedIn = await login("victor", "victor-password-1", from);
    const cookie = cookieOf(signedIn.headers["set-cookie"]);
    const change = (currentPassword: string) =>
      fx.app.inject({
        method: "PUT",
        url: "/api/v1/session/password",
        headers: { cookie, "x-csrf-token": signedIn.json().csrfToken, "content-type": "application/json", ...from },
        payload: JSON.stringify({ currentPassword, newPassword: "victor-password-2" }),
      });
    const guesses = await Promise.all(Array.from({ length: 7 }, () => change("guess-password")));
    expect(statuses(guesses)).toEqual([401, 401, 401, 401, 401, 429, 429]);
    expect(guesses.find((g) => g.statusCode === 401)!.json().details.fields).toEqual([{ field: "currentPassword", message: "is wrong" }]);
    clock += 60_000;
  });
});
