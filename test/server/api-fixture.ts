import type { FastifyInstance, LightMyRequestResponse } from "fastify";
import { createInbound, type Inbound } from "../../src/inbound.js";
import { buildApiServer, type ApiServerDeps } from "../../src/server/api-server.js";
import { newSecretToken, sha256Hex } from "../../src/server/auth/secret-token.js";
import { hashPassword } from "../../src/server/auth/password-hash.js";
import { TEST_KEY } from "../retrieval/retrieval-fixture.js";
import { createTestDatabase, type DialectName, type TestDatabase } from "../store/test-databases.js";

/** An Inbound on a private database, its API server (not listening), and an admin and a viewer token. */
export interface ApiFixture {
  database: TestDatabase;
  inbound: Inbound;
  app: FastifyInstance;
  adminToken: string;
  viewerToken: string;
  /** `inject` with a bearer token (default admin) and a JSON body. */
  call(method: string, url: string, options?: { token?: string | null; body?: unknown; headers?: Record<string, string> }): Promise<LightMyRequestResponse>;
  /** Create a user directly in the store (the password hash is slow, so tests share few). */
  addUser(username: string, password: string, role: "admin" | "viewer"): Promise<void>;
  close(): Promise<void>;
}

export async function openApiFixture(dialect: DialectName, extra: Partial<ApiServerDeps> = {}, inboundOverride?: Inbound): Promise<ApiFixture> {
  const database = await createTestDatabase(dialect);
  const inbound = inboundOverride ?? (await createInbound({ dataDir: database.dataDir, databaseUrl: database.databaseUrl, env: { INBOUND_ENCRYPTION_KEY: TEST_KEY }, parseWorkers: 1 }));
  const app = await buildApiServer({ inbound, webRoot: null, ...extra });
  const token = async (role: "admin" | "viewer") => {
    const value = newSecretToken("inb_");
    await inbound.store.apiTokens.create({ name: `test-${role}`, role, tokenHash: sha256Hex(value), createdBy: null });
    return value;
  };
  const adminToken = await token("admin");
  const viewerToken = await token("viewer");
  return {
    database,
    inbound,
    app,
    adminToken,
    viewerToken,
    call(method, url, options = {}) {
      const bearer = options.token === undefined ? adminToken : options.token;
      return app.inject({
        method: method as "GET",
        url,
        headers: { ...(bearer === null ? {} : { authorization: `Bearer ${bearer}` }), ...(options.body === undefined ? {} : { "content-type": "application/json" }), ...options.headers },
        payload: options.body === undefined ? undefined : JSON.stringify(options.body),
      });
    },
    async addUser(username, password, role) {
      await inbound.store.users.create({ username, passwordHash: await hashPassword(password), role });
    },
    async close() {
      await app.close();
      if (!inboundOverride) await inbound.close();
      await database.cleanup();
    },
  };
}
