import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PAGE_CSP } from "../../src/server/api-server.js";
import { openApiFixture, type ApiFixture } from "./api-fixture.js";

describe("admin page files from dist/web", () => {
  let fx: ApiFixture;
  let webRoot: string;
  beforeAll(async () => {
    webRoot = await mkdtemp(join(tmpdir(), "inbound-web-"));
    await writeFile(join(webRoot, "index.html"), "<!doctype html><title>Inbound</title><script type=module src=/assets/app.js></script>");
    await writeFile(join(webRoot, "app.js"), "console.log(1)");
    fx = await openApiFixture("sqlite", { webRoot });
  });
  afterAll(async () => {
    await fx.close();
    await rm(webRoot, { recursive: true, force: true });
  });

  it("serves the page at / under the page's strict CSP, with a fallback to index.html for its own routes", async () => {
    const index = await fx.call("GET", "/", { token: null });
    expect(index.statusCode).toBe(200);
    expect(index.body).toContain("<title>Inbound</title>");
    expect(index.headers["content-security-policy"]).toBe(PAGE_CSP);
    expect(PAGE_CSP).toBe("default-src 'self'; frame-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'");
    expect((await fx.call("GET", "/app.js", { token: null })).headers["content-type"]).toMatch(/javascript/);
    expect((await fx.call("GET", "/accounts/support", { token: null })).body).toContain("<title>Inbound</title>");
  });

  it("answers unknown API paths with a JSON 404, and health without credentials", async () => {
    const missing = await fx.call("GET", "/api/v1/nothing-here", { token: null });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ code: "NOT_FOUND" });
    expect((await fx.call("GET", "/healthz", { token: null })).json()).toEqual({ status: "ok" });
    expect((await fx.call("GET", "/readyz", { token: null })).json()).toEqual({ status: "ready" });
  });
});
