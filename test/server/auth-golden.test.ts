import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApiServer, type ApiServerHandle } from "../../src/server/api-server.js";
import { DIALECTS } from "../store/test-databases.js";
import { openApiFixture, type ApiFixture } from "./api-fixture.js";

interface Operation {
  method: string;
  path: string;
  role: string;
  hasBody: boolean;
  stream: boolean;
}

/** Status of one request over real HTTP; a stream is cut as soon as the status is known. */
async function statusOf(base: string, op: Operation, token: string | null): Promise<number> {
  const abort = new AbortController();
  const url = base + "/api/v1" + op.path.replace(/\{\w+\}/g, "00000000-0000-7000-8000-000000000000");
  const response = await fetch(url, {
    method: op.method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(op.hasBody ? { "content-type": "application/json" } : {}) },
    body: op.hasBody ? "{}" : undefined,
    signal: abort.signal,
  });
  abort.abort();
  return response.status;
}

describe.each(DIALECTS)("every operation declares and enforces its role (%s)", (dialect) => {
  let fx: ApiFixture;
  let server: ApiServerHandle;
  let operations: Operation[];

  beforeAll(async () => {
    fx = await openApiFixture(dialect);
    server = await startApiServer({ inbound: fx.inbound, host: "127.0.0.1", port: 0, webRoot: null });
    const doc = (await (await fetch(`${server.url}/api/v1/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { "x-inbound-role": string; requestBody?: unknown; responses: Record<string, { content?: Record<string, unknown> }> }>>;
    };
    operations = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.entries(item).map(([method, op]) => ({
        method: method.toUpperCase(),
        path,
        role: op["x-inbound-role"],
        hasBody: op.requestBody !== undefined,
        stream: Object.values(op.responses).some((r) => r.content !== undefined && "text/event-stream" in r.content),
      })),
    );
  });
  afterAll(async () => {
    await server.close();
    await fx.close();
  });

  it("answers 401 without credentials, and with a wrong or revoked token", async () => {
    const wrong: string[] = [];
    const revoked = await fx.call("POST", "/api/v1/tokens", { body: { name: "soon revoked", role: "admin" } });
    const revokedToken = revoked.json().token as string;
    expect((await fx.call("DELETE", `/api/v1/tokens/${revoked.json().id}`)).statusCode).toBe(204);
    for (const op of operations.filter((o) => o.role !== "public")) {
      for (const token of [null, "inb_not-a-token", revokedToken]) {
        const status = await statusOf(server.url, op, token);
        if (status !== 401) wrong.push(`${op.method} ${op.path} with ${token ? "a bad token" : "nothing"}: ${status}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it("answers 403 to a viewer on admin operations, and never 401/403 on viewer operations", async () => {
    const wrong: string[] = [];
    for (const op of operations.filter((o) => o.role !== "public")) {
      const status = await statusOf(server.url, op, fx.viewerToken);
      if (op.role === "admin" && status !== 403) wrong.push(`${op.method} ${op.path} (admin): ${status}`);
      if (op.role === "viewer" && (status === 401 || status === 403)) wrong.push(`${op.method} ${op.path} (viewer): ${status}`);
    }
    expect(wrong).toEqual([]);
    expect(operations.filter((o) => o.role === "admin").length).toBeGreaterThan(15);
  });

  it("lets an admin through everywhere (no 401/403)", async () => {
    const wrong: string[] = [];
    for (const op of operations.filter((o) => o.role !== "public" && !(o.method === "DELETE" && o.path === "/session"))) {
      const status = await statusOf(server.url, op, fx.adminToken);
      if (status === 401 || status === 403) wrong.push(`${op.method} ${op.path}: ${status}`);
    }
    expect(wrong).toEqual([]);
  });
});
