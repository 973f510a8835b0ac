import { readFile, writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openApiFixture, type ApiFixture } from "./api-fixture.js";

const GOLDEN = new URL("./openapi.golden.json", import.meta.url);

describe("OpenAPI document", () => {
  let fx: ApiFixture;
  beforeAll(async () => {
    fx = await openApiFixture("sqlite");
  });
  afterAll(async () => fx.close());

  it("matches the checked-in golden file (regenerate with UPDATE_GOLDEN=1)", async () => {
    const response = await fx.call("GET", "/api/v1/openapi.json", { token: null });
    expect(response.statusCode).toBe(200);
    const actual = `${JSON.stringify(response.json(), null, 2)}\n`;
    if (process.env.UPDATE_GOLDEN === "1") await writeFile(GOLDEN, actual);
    expect(actual).toBe(await readFile(GOLDEN, "utf8"));
  });

  it("declares security and x-inbound-role on every operation; only sign-in is public", async () => {
    const doc = (await fx.call("GET", "/api/v1/openapi.json", { token: null })).json() as { openapi: string; paths: Record<string, Record<string, { security: unknown[]; "x-inbound-role": string; operationId: string }>> };
    expect(doc.openapi).toBe("3.1.0");
    const operations = Object.values(doc.paths).flatMap((item) => Object.values(item));
    expect(operations.length).toBeGreaterThan(35);
    for (const op of operations) {
      expect(["admin", "viewer", "public"]).toContain(op["x-inbound-role"]);
      expect(Array.isArray(op.security)).toBe(true);
      expect(op.security.length === 0).toBe(op["x-inbound-role"] === "public");
    }
    expect(operations.filter((op) => op["x-inbound-role"] === "public").map((op) => op.operationId)).toEqual(["createSession"]);
    expect(new Set(operations.map((op) => op.operationId)).size).toBe(operations.length);
  });

  it("serves a browsable reference at /api/docs without inline script", async () => {
    const page = await fx.call("GET", "/api/docs", { token: null });
    expect(page.statusCode).toBe(200);
    expect(page.headers["content-type"]).toMatch(/text\/html/);
    expect(page.headers["content-security-policy"]).toContain("script-src 'self'");
    expect(page.body).toContain('<script src="/api/docs/docs.js" defer></script>');
    expect(page.body).not.toMatch(/<script>(?!<)/);
    const script = await fx.call("GET", "/api/docs/docs.js", { token: null });
    expect(script.statusCode).toBe(200);
    expect(script.body).toContain("/api/v1/openapi.json");
  });
});
