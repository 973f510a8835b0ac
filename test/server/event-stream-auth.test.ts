import { afterEach, describe, expect, it } from "vitest";
import { startApiServer, type ApiServerHandle } from "../../src/server/api-server.js";
import { openApiFixture, type ApiFixture } from "./api-fixture.js";

describe("the live event stream", () => {
  let fx: ApiFixture | undefined;
  let server: ApiServerHandle | undefined;
  afterEach(async () => {
    await server?.close();
    await fx?.close();
    server = undefined;
    fx = undefined;
  });

  it("ends once its token is revoked, within one heartbeat, and keeps going while it is valid", async () => {
    fx = await openApiFixture("sqlite");
    server = await startApiServer({ inbound: fx.inbound, host: "127.0.0.1", port: 0, webRoot: null, eventStreamHeartbeatMs: 100 });
    const created = await fx.call("POST", "/api/v1/tokens", { body: { name: "dashboard", role: "viewer" } });
    expect(created.statusCode, created.body).toBe(201);
    const { id, token } = created.json() as { id: string; token: string };

    const stream = await fetch(`${server.url}/api/v1/events/stream`, { headers: { authorization: `Bearer ${token}` } });
    expect(stream.status).toBe(200);
    const reader = stream.body!.getReader();
    let text = "";
    const read = async () => {
      const { value, done } = await reader.read();
      if (!done) text += Buffer.from(value).toString("utf8");
      return done;
    };
    // A few heartbeats while the token is valid.
    while ((text.match(/: ping/g) ?? []).length < 3) expect(await read()).toBe(false);

    expect((await fx.call("DELETE", `/api/v1/tokens/${id}`)).statusCode).toBe(204);
    const started = Date.now();
    let done = false;
    while (!done && Date.now() - started < 5_000) done = await read();
    expect(done).toBe(true);
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
