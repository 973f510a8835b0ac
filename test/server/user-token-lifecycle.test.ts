import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newSecretToken, sha256Hex } from "../../src/server/auth/secret-token.js";
import { DIALECTS } from "../store/test-databases.js";
import { openApiFixture, type ApiFixture } from "./api-fixture.js";

function cookieOf(setCookie: string | string[] | undefined): string {
  const header = Array.isArray(setCookie) ? setCookie[0] : (setCookie ?? "");
  return header.split(";")[0];
}

describe.each(DIALECTS)("users and the API tokens they created (%s)", (dialect) => {
  let fx: ApiFixture;
  beforeAll(async () => {
    fx = await openApiFixture(dialect);
    await fx.addUser("keeper", "keeper-password-1", "admin");
  });
  afterAll(async () => fx.close());

  const createUser = async (username: string, role: "admin" | "viewer") => {
    const response = await fx.call("POST", "/api/v1/users", { body: { username, password: `${username}-password-1`, role } });
    expect(response.statusCode, response.body).toBe(201);
    return response.json().id as string;
  };
  /** Sign in as `username` and create an admin token with the session; then a second token with that token. */
  const tokensOf = async (username: string) => {
    const signedIn = await fx.app.inject({ method: "POST", url: "/api/v1/session", headers: { "content-type": "application/json" }, payload: JSON.stringify({ username, password: `${username}-password-1` }) });
    expect(signedIn.statusCode).toBe(201);
    const made = await fx.app.inject({
      method: "POST",
      url: "/api/v1/tokens",
      headers: { cookie: cookieOf(signedIn.headers["set-cookie"]), "x-csrf-token": signedIn.json().csrfToken, "content-type": "application/json" },
      payload: JSON.stringify({ name: `${username}-script`, role: "admin" }),
    });
    expect(made.statusCode).toBe(201);
    const direct = made.json() as { id: string; token: string };
    const chained = (await fx.call("POST", "/api/v1/tokens", { token: direct.token, body: { name: `${username}-minted`, role: "admin" } })).json() as { id: string; token: string };
    for (const t of [direct, chained]) expect((await fx.call("GET", "/api/v1/users", { token: t.token })).statusCode).toBe(200);
    return { direct, chained };
  };
  const listed = async (id: string) => (await fx.call("GET", "/api/v1/tokens")).json().items.find((t: { id: string }) => t.id === id);
  const admins = async () => (await fx.inbound.store.users.list()).filter((u) => u.role === "admin").length;

  it("removing a user revokes the tokens they created, and the tokens those created", async () => {
    const id = await createUser("ops", "admin");
    const { direct, chained } = await tokensOf("ops");
    expect((await fx.call("DELETE", `/api/v1/users/${id}`)).statusCode).toBe(204);
    for (const t of [direct, chained]) {
      const response = await fx.call("GET", "/api/v1/accounts", { token: t.token });
      expect(response.statusCode).toBe(401);
      expect(response.json().code).toBe("UNAUTHENTICATED");
      expect((await listed(t.id)).revokedAt).not.toBeNull();
    }
  });

  it("making an admin a viewer lowers the admin tokens they created to viewer: they read, and may no longer administer", async () => {
    const id = await createUser("lead", "admin");
    const { direct, chained } = await tokensOf("lead");
    const demoted = await fx.call("PATCH", `/api/v1/users/${id}`, { body: { role: "viewer" } });
    expect(demoted.statusCode).toBe(200);
    for (const t of [direct, chained]) {
      expect((await fx.call("GET", "/api/v1/accounts", { token: t.token })).statusCode).toBe(200);
      const admin = await fx.call("GET", "/api/v1/users", { token: t.token });
      expect(admin.statusCode).toBe(403);
      expect(admin.json().code).toBe("FORBIDDEN");
      expect(await listed(t.id)).toMatchObject({ role: "viewer", revokedAt: null });
    }
    // Making them admin again does not raise the tokens back.
    await fx.call("PATCH", `/api/v1/users/${id}`, { body: { role: "admin" } });
    expect((await fx.call("GET", "/api/v1/users", { token: direct.token })).statusCode).toBe(403);
  });

  it("revoking a token revokes the tokens created with it", async () => {
    await createUser("ci", "admin");
    const { direct, chained } = await tokensOf("ci");
    expect((await fx.call("DELETE", `/api/v1/tokens/${direct.id}`)).statusCode).toBe(204);
    expect((await fx.call("GET", "/api/v1/accounts", { token: chained.token })).statusCode).toBe(401);
    expect((await listed(chained.id)).revokedAt).not.toBeNull();
  });

  it("a token never acts above its issuer, even one stored before removals revoked tokens", async () => {
    const viewerId = await createUser("reader", "viewer");
    const store = fx.inbound.store.apiTokens;
    const add = async (createdBy: string | null) => {
      const value = newSecretToken("inb_");
      const record = await store.create({ name: "old", role: "admin", tokenHash: sha256Hex(value), createdBy });
      return { value, record };
    };
    const orphan = await add("01900000-0000-7000-8000-000000000000");
    expect((await fx.call("GET", "/api/v1/accounts", { token: orphan.value })).statusCode).toBe(401);
    const underViewer = await add(viewerId);
    expect((await fx.call("GET", "/api/v1/accounts", { token: underViewer.value })).statusCode).toBe(200);
    expect((await fx.call("GET", "/api/v1/users", { token: underViewer.value })).statusCode).toBe(403);
    const underViewerToken = await add(`token:${underViewer.record.id}`);
    expect((await fx.call("GET", "/api/v1/users", { token: underViewerToken.value })).statusCode).toBe(403);
    const underRevoked = await add(`token:${orphan.record.id}`);
    await store.revoke(orphan.record.id);
    expect((await fx.call("GET", "/api/v1/accounts", { token: underRevoked.value })).statusCode).toBe(401);
  });

  /** Make every admin user a viewer, then add two fresh admins: the last two. */
  const lastTwoAdmins = async (prefix: string) => {
    for (const u of await fx.inbound.store.users.list()) if (u.role === "admin") await fx.inbound.store.users.update(u.id, { role: "viewer" });
    return [await createUser(`${prefix}-a`, "admin"), await createUser(`${prefix}-b`, "admin")] as const;
  };
  const demote = (id: string) => fx.call("PATCH", `/api/v1/users/${id}`, { body: { role: "viewer" } });
  const remove = (id: string) => fx.call("DELETE", `/api/v1/users/${id}`);

  it("two concurrent demotions of the last two admins leave one admin", async () => {
    for (let round = 0; round < 3; round++) {
      const [a, b] = await lastTwoAdmins(`demote${round}`);
      const answers = await Promise.all([demote(a), demote(b)]);
      expect(answers.map((x) => x.statusCode).sort()).toEqual([200, 409]);
      const refused = answers.find((x) => x.statusCode === 409)!;
      expect(refused.json()).toMatchObject({ code: "LAST_ADMIN", retryable: false, message: expect.stringMatching(/only admin\. Make another user admin first/) });
      expect(await admins()).toBe(1);
    }
  });

  it("two concurrent removals, or a removal and a demotion, of the last two admins leave one admin", async () => {
    const [a, b] = await lastTwoAdmins("remove");
    const removals = await Promise.all([remove(a), remove(b)]);
    expect(removals.map((x) => x.statusCode).sort()).toEqual([204, 409]);
    expect(removals.find((x) => x.statusCode === 409)!.json().code).toBe("LAST_ADMIN");
    expect(await admins()).toBe(1);

    const [c, d] = await lastTwoAdmins("mixed");
    const mixed = await Promise.all([remove(c), demote(d)]);
    // Whichever ran first succeeded (204 or 200); the other was refused.
    expect(mixed.filter((x) => x.statusCode === 409).map((x) => x.json().code)).toEqual(["LAST_ADMIN"]);
    expect(mixed.filter((x) => x.statusCode === 204 || x.statusCode === 200)).toHaveLength(1);
    expect(await admins()).toBe(1);
  });
});
