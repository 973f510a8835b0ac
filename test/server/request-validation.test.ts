import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WEBHOOK_SECRET_MAX_LENGTH } from "../../src/delivery/webhook-settings.js";
import type { WebhookService } from "../../src/server/services.js";
import { openApiFixture, type ApiFixture } from "./api-fixture.js";

type Problem = { field: string; message: string };

/** The answer's `details.fields` as { field: message }. */
function fieldsOf(response: { json(): { details: { fields: Problem[] } } }): Record<string, string> {
  return Object.fromEntries(response.json().details.fields.map((f) => [f.field, f.message]));
}

const settings = { name: "support", protocol: "imap", host: "mail.example.com", username: "u", password: "p" };

describe("request validation says what is wrong with a field, never 'is required' for a value that is there", () => {
  let fx: ApiFixture;
  // Only creation is used here: it is where the API schema and the delivery layer's validator meet.
  const webhooks = { createWebhook: (input) => fx.inbound.delivery.addWebhook(input) } as Pick<WebhookService, "createWebhook"> as WebhookService;

  beforeAll(async () => {
    fx = await openApiFixture("sqlite", { webhooks });
  });
  afterAll(async () => fx?.close());

  it("account settings of the wrong type: what the field must be, without echoing the value", async () => {
    const port = await fx.call("POST", "/api/v1/accounts", { body: { ...settings, port: "x" } });
    expect(port.statusCode).toBe(400);
    expect(port.json().code).toBe("CONFIG_INVALID");
    expect(fieldsOf(port)).toEqual({ port: "must be a number" });

    const tlsCa = await fx.call("POST", "/api/v1/accounts", { body: { ...settings, tlsCa: 5 } });
    expect(fieldsOf(tlsCa)).toEqual({ tlsCa: "must be a string" });

    const secret = "hunter2-Very-Secret";
    const password = await fx.call("POST", "/api/v1/accounts", { body: { ...settings, password: [secret], tlsVerify: "yes" } });
    expect(fieldsOf(password)).toEqual({ password: "must be a string", tlsVerify: "must be true or false" });
    expect(password.body).not.toContain(secret);

    const missing = await fx.call("POST", "/api/v1/accounts", { body: { name: "x", protocol: "imap", host: "h", username: "u" } });
    expect(fieldsOf(missing)).toEqual({ password: "is required" });

    const array = await fx.call("POST", "/api/v1/accounts", { body: [1] });
    expect(array.statusCode).toBe(400);
    expect(fieldsOf(array)).toEqual({ "(settings)": "must be an object" });
  });

  it("a patch of the wrong type names the field and the type", async () => {
    expect((await fx.call("POST", "/api/v1/accounts", { body: settings })).statusCode).toBe(201);
    const patch = await fx.call("PATCH", "/api/v1/accounts/support", { body: { port: "x", limit: null } });
    expect(patch.statusCode).toBe(400);
    expect(fieldsOf(patch)).toEqual({ port: "must be a number", limit: "must be a number" });
  });

  it("query values: not a number, or given twice", async () => {
    const abc = await fx.call("GET", "/api/v1/messages?limit=abc");
    expect(abc.statusCode).toBe(400);
    expect(abc.json()).toMatchObject({ code: "REQUEST_INVALID", details: { in: "query" } });
    expect(fieldsOf(abc)).toEqual({ limit: "must be a number" });
    expect(abc.json().message).toBe("Invalid query: limit: must be a number");

    const twice = await fx.call("GET", "/api/v1/messages?limit=1&limit=2");
    expect(fieldsOf(twice)).toEqual({ limit: "must be given once" });

    const events = await fx.call("GET", "/api/v1/accounts/support/events?limit=abc");
    expect(fieldsOf(events)).toEqual({ limit: "must be a number" });

    expect(fieldsOf(await fx.call("GET", "/api/v1/messages?limit=0"))).toEqual({ limit: "must be at least 1" });
    expect((await fx.call("GET", "/api/v1/messages?limit=2")).statusCode).toBe(200);
  });

  it("a sign-in body of the wrong type names the field, and repeats neither value", async () => {
    const response = await fx.call("POST", "/api/v1/session", { token: null, body: { username: 5, password: 123456789 } });
    expect(response.statusCode).toBe(400);
    expect(response.json().code).toBe("REQUEST_INVALID");
    expect(fieldsOf(response)).toEqual({ username: "must be a string", password: "must be a string" });
    expect(response.body).not.toContain("123456789");

    const missing = await fx.call("POST", "/api/v1/session", { token: null, body: { username: "admin" } });
    expect(fieldsOf(missing)).toEqual({ password: "is required" });

    const array = await fx.call("POST", "/api/v1/session", { token: null, body: [1] });
    expect(fieldsOf(array)).toEqual({ "(body)": "must be an object" });
  });

  it("since/until: an impossible date is refused as not an ISO-8601 date, not 'Invalid input'", async () => {
    for (const value of ["2026-02-30", "yesterday", "2026-01-31T25:00:00Z"]) {
      const response = await fx.call("GET", `/api/v1/messages?since=${value}`);
      expect(response.statusCode).toBe(400);
      expect(fieldsOf(response).since).toMatch(/^must be an ISO-8601 date or date-time/);
    }
    expect(fieldsOf(await fx.call("GET", "/api/v1/messages?until=2026-13-01")).until).toMatch(/^must be an ISO-8601 date or date-time/);
    expect((await fx.call("GET", "/api/v1/messages?since=2026-02-28&until=2026-03-01T00:00:00%2B01:00")).statusCode).toBe(200);
  });

  it("webhook secret: the API schema, its OpenAPI document and the delivery layer agree on the longest", async () => {
    const body = (secret: string) => ({ url: "https://app.example.com/hooks/inbound", secret });
    const longest = await fx.call("POST", "/api/v1/webhooks", { body: body("s".repeat(WEBHOOK_SECRET_MAX_LENGTH)) });
    expect(longest.statusCode).toBe(201);
    const tooLong = await fx.call("POST", "/api/v1/webhooks", { body: body("s".repeat(WEBHOOK_SECRET_MAX_LENGTH + 1)) });
    expect(tooLong.statusCode).toBe(400);
    expect(tooLong.json().code).toBe("REQUEST_INVALID");
    expect(fieldsOf(tooLong)).toEqual({ secret: `must be at most ${WEBHOOK_SECRET_MAX_LENGTH} characters` });

    const doc = (await fx.call("GET", "/api/v1/openapi.json", { token: null })).json();
    for (const schema of ["WebhookInput", "WebhookPatch"]) {
      expect(doc.components.schemas[schema].properties.secret).toMatchObject({ minLength: 16, maxLength: WEBHOOK_SECRET_MAX_LENGTH });
    }
  });
});
