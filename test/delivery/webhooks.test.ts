import { createHmac, timingSafeEqual } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createDeliveryService, type DeliveryService, type DeliveryServiceOptions } from "../../src/delivery/delivery-service.js";
import type { WebhookBody } from "../../src/delivery/webhook-payload.js";
import { verifyWebhookSignature } from "../../src/delivery/webhook-signature.js";
import type { Store } from "../../src/store/store.js";
import { createAccount } from "../store/fixtures.js";
import { DIALECTS, openTestStore } from "../store/test-databases.js";
import { FAST_RETRY, startReceiver, storeMessage, testBox, waitFor, type Receiver } from "./delivery-fixture.js";

/** The verification recipe of docs/webhooks.md, verbatim. */
function verify(secret: string, headers: Record<string, string | string[] | undefined>, rawBody: string): boolean {
  const ts = headers["inbound-timestamp"] as string, sig = (headers["inbound-signature"] as string) ?? "";
  if (Math.abs(Date.now() / 1000 - Number(ts)) > 300) return false; // replay window
  const expected = "v1=" + createHmac("sha256", secret).update(`${ts}.${rawBody}`).digest("hex");
  return sig.length === expected.length && timingSafeEqual(Buffer.from(sig), Buffer.from(expected));
}

describe.each(DIALECTS)("webhooks (%s)", (dialect) => {
  let store: Store;
  let cleanup: () => Promise<void>;
  let receiver: Receiver;
  const services: DeliveryService[] = [];
  const service = (overrides: Partial<DeliveryServiceOptions> = {}) => {
    const s = createDeliveryService({ store, box: testBox().box, webhookRetry: FAST_RETRY, pollIntervalMs: 30, publicUrl: "https://inbound.example.com/", ...overrides });
    services.push(s);
    return s;
  };
  const successes = () => receiver.requests.filter((r) => r.status >= 200 && r.status < 300);
  const ids = (requests: typeof receiver.requests) => requests.map((r) => r.headers["inbound-event-id"] as string);

  beforeEach(async () => {
    ({ store, cleanup } = await openTestStore(dialect));
    receiver = await startReceiver();
  });
  afterEach(async () => {
    for (const s of services.splice(0)) await s.close();
    await receiver.close();
    await cleanup();
  });

  it("delivers every event once, in order, after the receiver was down for a while; retries carry the same id", async () => {
    const a = await createAccount(store, "a");
    const b = await createAccount(store, "b");
    const delivery = service({ webhookRetry: { maxAttempts: 20, baseDelayMs: 30, maxDelayMs: 150 } });
    await delivery.addWebhook({ url: receiver.url, events: ["message.received"] });
    await receiver.stop();
    await delivery.start();
    const stored: Array<{ account: string; eventId: string }> = [];
    for (let i = 0; i < 10; i++) {
      const account = i % 2 ? a : b;
      stored.push({ account, ...(await storeMessage(store, account)) });
    }
    delivery.notify();
    await waitFor(async () => (await delivery.listDeliveries({ failed: true })).items.length === 2, "both lanes to be failing");
    // Up again, first answering 503 a few times, then 200.
    receiver.respond = ({ n }) => (n < 3 ? 503 : 200);
    await receiver.listen();
    await waitFor(() => successes().length >= 10, "10 successful deliveries");
    await new Promise((r) => setTimeout(r, 300));
    const ok = successes();
    expect(new Set(ids(ok)).size).toBe(10);
    expect(ok).toHaveLength(10);
    for (const account of [a, b]) {
      const got = ok.filter((r) => (JSON.parse(r.body) as WebhookBody).account?.id === account);
      expect(ids(got)).toEqual(stored.filter((s) => s.account === account).map((s) => s.eventId));
    }
    // Failed attempts were for events that are then delivered with the same id.
    for (const failed of receiver.requests.filter((r) => r.status === 503)) expect(ids(ok)).toContain(failed.headers["inbound-event-id"]);
    const list = await delivery.listDeliveries({ limit: 100 });
    expect(list.items.every((d) => d.status === "succeeded")).toBe(true);
    expect(list.items.some((d) => d.attempts > 1)).toBe(true);
  });

  it("signs the body so the documented recipe verifies it, and a tampered body fails", async () => {
    const a = await createAccount(store, "support");
    const delivery = service();
    const hook = await delivery.addWebhook({ url: receiver.url });
    expect(hook.secret).toMatch(/^whsec_/);
    const { eventId, messageId } = await storeMessage(store, a, "Invoice 42");
    await delivery.start();
    await waitFor(() => receiver.requests.length === 1, "one webhook");
    const [request] = receiver.requests;
    expect(request.headers["content-type"]).toBe("application/json");
    expect(request.headers["user-agent"]).toMatch(/^inbound-mail/);
    expect(request.headers["inbound-event-id"]).toBe(eventId);
    expect(Number(request.headers["inbound-timestamp"])).toBeCloseTo(Date.now() / 1000, -1);
    expect(verify(hook.secret, request.headers, request.body)).toBe(true);
    expect(verifyWebhookSignature(hook.secret, request.headers["inbound-timestamp"] as string, request.headers["inbound-signature"] as string, request.body)).toBe(true);
    const tampered = request.body.replace("Invoice 42", "Invoice 43");
    expect(verify(hook.secret, request.headers, tampered)).toBe(false);
    expect(verifyWebhookSignature(hook.secret, request.headers["inbound-timestamp"] as string, request.headers["inbound-signature"] as string, tampered)).toBe(false);
    expect(verify("whsec_someone-else-entirely", request.headers, request.body)).toBe(false);

    const body = JSON.parse(request.body) as WebhookBody;
    expect(body).toMatchObject({ id: eventId, type: "message.received", account: { id: a, name: "support" } });
    expect(body.message).toMatchObject({
      id: messageId,
      subject: "Invoice 42",
      from: [{ name: "Ann Sender", address: "ann@example.com" }],
      to: [{ name: "", address: "support@example.com" }],
      text: "Body of Invoice 42",
      html: "<p>Body of Invoice 42</p>",
      truncated: false,
      headers: [{ name: "Subject", value: "Invoice 42" }],
    });
    const [attachment] = body.message!.attachments;
    expect(attachment).toMatchObject({ filename: "invoice.pdf", contentType: "application/pdf", size: 1234, disposition: "attachment" });
    expect(attachment.url).toBe(`https://inbound.example.com/api/v1/attachments/${attachment.id}/content`);
  });

  it("cuts text and HTML at the body limit, HTML with its elements closed, and says so", async () => {
    const a = await createAccount(store, "a");
    const delivery = service({ bodyLimit: 12 });
    await delivery.addWebhook({ url: receiver.url });
    await storeMessage(store, a, "Long one");
    await delivery.start();
    await waitFor(() => receiver.requests.length === 1, "one webhook");
    const body = JSON.parse(receiver.requests[0].body) as WebhookBody;
    expect(body.message).toMatchObject({ text: "Body of Long", html: "<p>Body </p>", truncated: true });
  });

  it("disables a target that answers 410 Gone, and keeps its events until it is enabled again", async () => {
    const a = await createAccount(store, "a");
    receiver.respond = () => 410;
    const delivery = service();
    const hook = await delivery.addWebhook({ url: receiver.url });
    await storeMessage(store, a);
    await storeMessage(store, a);
    await delivery.start();
    await waitFor(async () => !(await delivery.getWebhook(hook.id)).enabled, "the webhook to be disabled");
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.requests).toHaveLength(1);
    const disabled = await delivery.getWebhook(hook.id);
    expect(disabled.disabledReason).toMatch(/410 Gone/);
    expect(delivery.stats().webhooksDisabled).toBe(1);
    const pending = (await delivery.listDeliveries()).items;
    expect(pending.map((d) => d.status)).toEqual(["pending", "pending"]);
    expect(pending[1].lastStatus).toBe(410);

    // Mail that arrives while it is disabled is queued for it too, not skipped.
    await storeMessage(store, a);
    delivery.notify();
    await waitFor(async () => (await delivery.listDeliveries()).items.length === 3, "the third event queued for the disabled webhook");
    await new Promise((r) => setTimeout(r, 200));
    expect(receiver.requests).toHaveLength(1);

    receiver.respond = () => 204;
    const enabled = await delivery.updateWebhook(hook.id, { enabled: true });
    expect(enabled).toMatchObject({ enabled: true, disabledReason: null });
    await waitFor(() => successes().length === 3, "all three events after re-enabling");
  });

  it("keeps delivering to other targets when one webhook's secret cannot be opened, and holds that one's events", async () => {
    const a = await createAccount(store, "a");
    const other = await startReceiver();
    try {
      const delivery = service();
      const good = await delivery.addWebhook({ url: receiver.url });
      const sealedElsewhere = await delivery.addWebhook({ url: other.url });
      // As if added by a process whose secret.key differs: a well-formed ciphertext under an unknown key id.
      await store.database.db.updateTable("webhooks").set({ secret_enc: testBox().box.seal("whsec_x").replace(/^([^:]+:)[^:]+/, "$10badc0de") }).where("id", "=", sealedElsewhere.id).execute();
      await storeMessage(store, a);
      await delivery.start();
      await waitFor(() => successes().length === 1, "the good webhook's delivery");
      await new Promise((r) => setTimeout(r, 200));
      expect(other.requests).toHaveLength(0);
      const waiting = (await delivery.listDeliveries()).items.filter((d) => d.consumer === `webhook:${sealedElsewhere.id}`);
      expect(waiting.map((d) => d.status)).toEqual(["pending"]);
      expect(good.id).not.toBe(sealedElsewhere.id);
    } finally {
      await other.close();
    }
  });

  it("does not follow a redirect: a 302 is a failed attempt", async () => {
    const a = await createAccount(store, "a");
    receiver.respond = ({ path }) => (path === "/elsewhere" ? 200 : { status: 302, headers: { location: "/elsewhere" } });
    const delivery = service({ webhookRetry: { maxAttempts: 2, baseDelayMs: 20, maxDelayMs: 20 } });
    await delivery.addWebhook({ url: receiver.url });
    await storeMessage(store, a);
    await delivery.start();
    await waitFor(async () => (await delivery.listDeliveries({ status: "parked" })).items.length === 1, "the event to be parked");
    expect(receiver.requests.map((r) => r.path)).toEqual(["/hooks/inbound", "/hooks/inbound"]);
    const [parked] = (await delivery.listDeliveries({ failed: true })).items;
    expect(parked).toMatchObject({ status: "parked", attempts: 2, lastStatus: 302 });
    expect(parked.lastError).toContain("302 redirect to /elsewhere not followed");
  });

  it("times out a slow receiver and retries with the same event id", async () => {
    const a = await createAccount(store, "a");
    receiver.respond = ({ n }) => (n === 0 ? { status: 200, delayMs: 2_000 } : 200);
    const delivery = service({ webhookTimeoutMs: 300 });
    await delivery.addWebhook({ url: receiver.url });
    const { eventId } = await storeMessage(store, a);
    await delivery.start();
    await waitFor(() => receiver.requests.length === 2, "a second attempt");
    await waitFor(async () => (await delivery.listDeliveries()).items[0].status === "succeeded", "success");
    expect(ids(receiver.requests)).toEqual([eventId, eventId]);
    expect(receiver.requests.map((r) => r.headers["inbound-attempt"])).toEqual(["1", "2"]);
    const [d] = (await delivery.listDeliveries()).items;
    expect(d.attempts).toBe(2);
    expect(d.lastError).toContain("no answer within 300 ms");
  });

  it("validates targets field by field, keeps the secret sealed and never lists it", async () => {
    const delivery = service();
    await expect(delivery.addWebhook({ url: "ftp://example.com/x", events: ["message.recieved"], secret: "short" })).rejects.toMatchObject({
      code: "WEBHOOK_INVALID",
      details: { fields: [expect.objectContaining({ field: "url" }), expect.objectContaining({ field: "events" }), expect.objectContaining({ field: "secret" })] },
    });
    await expect(delivery.addWebhook({ url: "not a url" })).rejects.toMatchObject({ code: "WEBHOOK_INVALID", details: { fields: [{ field: "url", message: "is not a valid URL" }] } });
    const secret = "a-long-enough-shared-secret";
    const hook = await delivery.addWebhook({ url: receiver.url, events: ["message.received", "retrieval.failed"], secret });
    expect(hook.secret).toBe(secret);
    const listed = await delivery.listWebhooks();
    expect(listed).toEqual([{ id: hook.id, url: receiver.url, events: ["message.received", "retrieval.failed"], description: null, enabled: true, disabledReason: null, createdAt: hook.createdAt, updatedAt: hook.updatedAt }]);
    expect(JSON.stringify(listed)).not.toContain(secret);
    const rows = await store.database.db.selectFrom("webhooks").selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(secret);

    const test = await delivery.testWebhook(hook.id);
    expect(test).toMatchObject({ ok: true, status: 200 });
    const [request] = receiver.requests;
    expect(JSON.parse(request.body)).toMatchObject({ type: "webhook.test", id: test.eventId });
    expect(verify(secret, request.headers, request.body)).toBe(true);

    await expect(delivery.updateWebhook(hook.id, { url: "javascript:alert(1)" })).rejects.toMatchObject({ code: "WEBHOOK_INVALID" });
    expect((await delivery.updateWebhook(hook.id, { events: ["*"] })).events).toEqual(["*"]);
    await delivery.removeWebhook(hook.id);
    await expect(delivery.removeWebhook(hook.id)).rejects.toMatchObject({ code: "WEBHOOK_NOT_FOUND" });
    await expect(delivery.replay("nope")).rejects.toMatchObject({ code: "DELIVERY_NOT_FOUND" });
  });
});
