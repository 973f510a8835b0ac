import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLiveEvents, startApiServer } from "../../src/server/api-server.js";
import { mailboxPool, startDovecot, type DovecotServer } from "../harness/dovecot.js";
import { makeMessage } from "../retrieval/retrieval-fixture.js";
import { DIALECTS } from "../store/test-databases.js";
import { openApiFixture, type ApiFixture } from "./api-fixture.js";

const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64");

function messageWithAttachment(n: number): string {
  return [
    `From: Invoices <billing@vendor.example>`,
    "To: Support <support@example.com>",
    `Subject: Invoice ${n} with attachment`,
    `Date: ${new Date(Date.UTC(2026, 1, 10, 0, 0, n)).toUTCString().replace("GMT", "+0000")}`,
    `Message-ID: <invoice-${n}-${Math.random().toString(16).slice(2)}@vendor.example>`,
    "MIME-Version: 1.0",
    'Content-Type: multipart/mixed; boundary="outer"',
    "",
    "--outer",
    'Content-Type: multipart/related; boundary="inner"',
    "",
    "--inner",
    "Content-Type: text/html; charset=utf-8",
    "",
    '<p onclick="alert(1)">Hello <img src="cid:logo@vendor"><script>alert(2)</script></p>',
    "--inner",
    "Content-Type: image/png",
    "Content-ID: <logo@vendor>",
    "Content-Disposition: inline",
    "Content-Transfer-Encoding: base64",
    "",
    PNG.toString("base64"),
    "--inner--",
    "--outer",
    "Content-Type: application/pdf",
    "Content-Disposition: attachment; filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf",
    "Content-Transfer-Encoding: base64",
    "",
    Buffer.from("%PDF-1.4 fake").toString("base64"),
    "--outer--",
    "",
  ].join("\r\n");
}

async function waitForRun(fx: ApiFixture, runId: string): Promise<Record<string, unknown>> {
  for (let i = 0; i < 300; i++) {
    const run = (await fx.call("GET", `/api/v1/runs/${runId}`, { token: fx.viewerToken })).json();
    if (run.status !== "running") return run;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("run did not finish");
}

let dovecot: DovecotServer;
beforeAll(async () => {
  dovecot = await startDovecot({ users: mailboxPool(6) });
});
afterAll(async () => dovecot?.stop());

describe.each(DIALECTS)("accounts and messages over the API (%s)", (dialect) => {
  let fx: ApiFixture;
  const live = createLiveEvents();
  let box: { name: string; password: string };

  beforeAll(async () => {
    fx = await openApiFixture(dialect, { live });
    box = dovecot.users.filter((u) => u.name.startsWith("box"))[dialect === "sqlite" ? 0 : 1];
  });
  afterAll(async () => fx?.close());

  const accountBody = (name: string, extra: Record<string, unknown> = {}) => ({
    name, protocol: "imap", host: dovecot.host, port: dovecot.ports.imap, username: box.name, password: box.password, tlsCa: dovecot.certPem, timeoutMs: 15_000, ...extra,
  });

  it("refuses invalid settings naming each field, and a body that is not settings", async () => {
    const response = await fx.call("POST", "/api/v1/accounts", { body: { name: "bad name!", protocol: "smtp", host: "", username: "u", password: "p", port: 70000 } });
    expect(response.statusCode).toBe(400);
    expect(response.json().code).toBe("CONFIG_INVALID");
    const fields = response.json().details.fields.map((f: { field: string }) => f.field).sort();
    expect(fields).toEqual(["host", "name", "port", "protocol"]);
    const crossField = await fx.call("POST", "/api/v1/accounts", { body: accountBody("x", { after: "move" }) });
    expect(crossField.json().details.fields).toEqual([{ field: "moveTo", message: "is required when after is move" }]);
    const notJson = await fx.app.inject({ method: "POST", url: "/api/v1/accounts", headers: { authorization: `Bearer ${fx.adminToken}`, "content-type": "application/json" }, payload: "{nope" });
    expect(notJson.statusCode).toBe(400);
    expect(notJson.json().code).toBe("REQUEST_INVALID");
  });

  it("creates, reads, updates and deletes an account; the password is write-only", async () => {
    const created = await fx.call("POST", "/api/v1/accounts", { body: accountBody("crud") });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ name: "crud", protocol: "imap", security: "starttls", folder: "INBOX", messageCount: 0 });
    expect(created.body).not.toContain(box.password);
    expect(created.json()).not.toHaveProperty("password");
    const id = created.json().id;
    for (const url of ["/api/v1/accounts", `/api/v1/accounts/${id}`, "/api/v1/accounts/crud"]) {
      const response = await fx.call("GET", url, { token: fx.viewerToken });
      expect(response.statusCode).toBe(200);
      expect(response.body).not.toContain(box.password);
      expect(response.body).not.toMatch(/password/i);
    }
    expect((await fx.call("POST", "/api/v1/accounts", { body: accountBody("crud") })).statusCode).toBe(409);
    const updated = await fx.call("PATCH", `/api/v1/accounts/${id}`, { body: { limit: 10, password: "new-secret-password" } });
    expect(updated.statusCode).toBe(200);
    expect(updated.json().limit).toBe(10);
    expect(updated.body).not.toContain("new-secret-password");
    const badPatch = await fx.call("PATCH", `/api/v1/accounts/${id}`, { body: { port: 0, batchSize: "many" } });
    expect(badPatch.json().details.fields.map((f: { field: string }) => f.field).sort()).toEqual(["batchSize", "port"]);
    expect((await fx.call("PATCH", `/api/v1/accounts/${id}`, { token: fx.viewerToken, body: { limit: 5 } })).statusCode).toBe(403);
    expect((await fx.call("DELETE", `/api/v1/accounts/${id}`, { token: fx.viewerToken })).statusCode).toBe(403);
    expect((await fx.call("DELETE", `/api/v1/accounts/${id}`)).statusCode).toBe(204);
    const gone = await fx.call("GET", `/api/v1/accounts/${id}`);
    expect(gone.statusCode).toBe(404);
    expect(gone.json()).toMatchObject({ code: "ACCOUNT_NOT_FOUND", details: {} });
  });

  it("tests the connection in plain words, lists folders, and says what failed", async () => {
    await fx.call("POST", "/api/v1/accounts", { body: accountBody("probe") });
    const ok = await fx.call("POST", "/api/v1/accounts/probe/test");
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ ok: true, protocol: "imap" });
    const folders = await fx.call("GET", "/api/v1/accounts/probe/folders");
    expect(folders.json().items.map((f: { path: string }) => f.path)).toContain("INBOX");
    await fx.call("PATCH", "/api/v1/accounts/probe", { body: { password: "wrong-password" } });
    const failed = await fx.call("POST", "/api/v1/accounts/probe/test");
    expect(failed.statusCode).toBe(200);
    expect(failed.json()).toMatchObject({ ok: false, error: { code: "IMAP_AUTH_FAILED" } });
    expect(failed.body).not.toContain("wrong-password");
  });

  it("fetch now returns a run at once, progress is pollable and streamed, then messages list, filter and page", async () => {
    for (let n = 1; n <= 5; n++) dovecot.deliver(box.name, makeMessage(n, { subject: n % 2 ? `Odd ${n}` : `Even ${n}` }));
    dovecot.deliver(box.name, messageWithAttachment(9));
    const seen: string[] = [];
    const stop = live.subscribe((e) => seen.push(e.type));
    const created = await fx.call("POST", "/api/v1/accounts", { body: accountBody("mail") });
    const accountId = created.json().id;
    const started = await fx.call("POST", "/api/v1/accounts/mail/fetch");
    expect(started.statusCode).toBe(202);
    expect(started.json()).toMatchObject({ status: "running", accountName: "mail" });
    expect(started.headers.location).toBe(`/api/v1/runs/${started.json().id}`);
    const run = await waitForRun(fx, started.json().id);
    stop();
    expect(run).toMatchObject({ status: "succeeded", summary: { stored: 6 } });
    expect(seen).toContain("run.progress");
    expect(seen).toContain("run.finished");
    expect(seen.filter((t) => t === "message.stored")).toHaveLength(6);

    const all = await fx.call("GET", "/api/v1/messages?account=mail", { token: fx.viewerToken });
    expect(all.json().items).toHaveLength(6);
    const odd = await fx.call("GET", "/api/v1/messages?account=mail&subject=odd");
    expect(odd.json().items.map((m: { subject: string }) => m.subject).sort()).toEqual(["Odd 1", "Odd 3", "Odd 5"]);
    const fromVendor = await fx.call("GET", `/api/v1/messages?account=${accountId}&from=VENDOR.example`);
    expect(fromVendor.json().items.map((m: { subject: string }) => m.subject)).toEqual(["Invoice 9 with attachment"]);
    const withAttachments = await fx.call("GET", "/api/v1/messages?account=mail&hasAttachments=true");
    expect(withAttachments.json().items).toHaveLength(1);
    expect((await fx.call("GET", "/api/v1/messages?account=mail&hasAttachments=false")).json().items).toHaveLength(5);
    const january = await fx.call("GET", "/api/v1/messages?account=mail&since=2026-01-01&until=2026-02-01T00:00:00Z");
    expect(january.json().items).toHaveLength(5);
    expect((await fx.call("GET", "/api/v1/messages?account=mail&folder=INBOX")).json().items).toHaveLength(6);
    expect((await fx.call("GET", "/api/v1/messages?account=mail&folder=Archive")).json().items).toHaveLength(0);

    const pages: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: Array<{ id: string }>; nextCursor: string | null } = (await fx.call("GET", `/api/v1/messages?account=mail&limit=4${cursor ? `&cursor=${cursor}` : ""}`)).json();
      pages.push(...page.items.map((m) => m.id));
      cursor = page.nextCursor;
    } while (cursor !== null);
    expect(pages).toEqual(all.json().items.map((m: { id: string }) => m.id));

    const invalid = await fx.call("GET", "/api/v1/messages?limit=0&since=yesterday&hasAttachments=maybe");
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json().details.fields.map((f: { field: string }) => f.field).sort()).toEqual(["hasAttachments", "limit", "since"]);

    const state = await fx.call("GET", "/api/v1/accounts/mail/state", { token: fx.viewerToken });
    expect(state.json()).toMatchObject({ accountId, run: null, subscription: null });
    expect((await fx.call("GET", "/api/v1/accounts/mail")).json().messageCount).toBe(6);
    expect((await fx.call("PUT", "/api/v1/accounts/mail/subscription")).statusCode).toBe(501);
  });

  it("serves one message, its raw .eml, text, sanitized HTML under a strict CSP, and attachments with RFC 6266 names", async () => {
    const [invoice] = (await fx.call("GET", "/api/v1/messages?account=mail&hasAttachments=true")).json().items;
    const message = (await fx.call("GET", `/api/v1/messages/${invoice.id}`, { token: fx.viewerToken })).json();
    expect(message).toMatchObject({ subject: "Invoice 9 with attachment", hasHtml: true });
    expect(message).not.toHaveProperty("htmlBody");
    const pdf = message.attachments.find((a: { contentType: string }) => a.contentType === "application/pdf");
    expect(pdf.filename).toBe("Rechnung März.pdf");

    const raw = await fx.call("GET", `/api/v1/messages/${invoice.id}/raw`, { token: fx.viewerToken });
    expect(raw.statusCode).toBe(200);
    expect(raw.headers["content-type"]).toBe("message/rfc822");
    expect(raw.headers["content-disposition"]).toMatch(/^attachment; filename="message-.*\.eml"/);
    expect(raw.body).toContain("Subject: Invoice 9 with attachment");
    expect(Number(raw.headers["content-length"])).toBe(invoice.size);

    const html = await fx.call("GET", `/api/v1/messages/${invoice.id}/html`, { token: fx.viewerToken });
    expect(html.statusCode).toBe(200);
    expect(html.headers["content-type"]).toMatch(/^text\/html/);
    expect(html.headers["content-security-policy"]).toContain("default-src 'none'; img-src 'self' data: cid:; style-src 'unsafe-inline'");
    expect(html.headers["x-content-type-options"]).toBe("nosniff");
    expect(html.body).not.toContain("<script");
    expect(html.body).not.toContain("onclick");
    expect(html.body).toContain(`src="data:image/png;base64,${PNG.toString("base64")}"`);
    const remote = await fx.call("GET", `/api/v1/messages/${invoice.id}/html?remoteImages=true`);
    expect(remote.headers["content-security-policy"]).toContain("img-src 'self' data: cid: https:");
    expect((await fx.call("GET", `/api/v1/messages/${invoice.id}/text`)).statusCode).toBe(404);

    const plain = (await fx.call("GET", "/api/v1/messages?account=mail&subject=Odd%201")).json().items[0];
    const text = await fx.call("GET", `/api/v1/messages/${plain.id}/text`);
    expect(text.headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect(text.body).toContain("Body of message 1.");

    const meta = await fx.call("GET", `/api/v1/attachments/${pdf.id}`, { token: fx.viewerToken });
    expect(meta.json()).toMatchObject({ id: pdf.id, size: 13 });
    const download = await fx.call("GET", `/api/v1/attachments/${pdf.id}/content`, { token: fx.viewerToken });
    expect(download.statusCode).toBe(200);
    expect(download.headers["content-type"]).toBe("application/pdf");
    expect(download.headers["content-disposition"]).toBe(`attachment; filename="Rechnung Mrz.pdf"; filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf`);
    expect(download.headers["x-content-type-options"]).toBe("nosniff");
    expect(download.body).toBe("%PDF-1.4 fake");
    expect((await fx.call("GET", `/api/v1/messages/${invoice.id}/attachments`)).json().items).toHaveLength(2);
    expect((await fx.call("GET", "/api/v1/attachments/nope/content")).json().code).toBe("ATTACHMENT_NOT_FOUND");
  });

  it("shows the account log and the service log", async () => {
    await fx.inbound.store.events.append({ accountId: (await fx.inbound.getAccount("mail")).id, type: "fetch.failed", level: "error", message: "boom" });
    const events = await fx.call("GET", "/api/v1/accounts/mail/events?limit=5", { token: fx.viewerToken });
    expect(events.json().items[0]).toMatchObject({ type: "fetch.failed", level: "error", message: "boom" });
    expect((await fx.call("GET", "/api/v1/events?account=mail")).json().items.length).toBeGreaterThan(0);
  });
});

describe("live events over real HTTP", () => {
  it("streams run progress and stored messages as server-sent events", async () => {
    const fx = await openApiFixture("sqlite");
    const server = await startApiServer({ inbound: fx.inbound, host: "127.0.0.1", port: 0, webRoot: null });
    const abort = new AbortController();
    try {
      const box = dovecot.users.filter((u) => u.name.startsWith("box"))[2];
      dovecot.deliver(box.name, makeMessage(40, { subject: "Live one" }));
      const stream = await fetch(`${server.url}/api/v1/events/stream`, { headers: { authorization: `Bearer ${fx.viewerToken}` }, signal: abort.signal });
      expect(stream.status).toBe(200);
      expect(stream.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
      const account = await fetch(`${server.url}/api/v1/accounts`, {
        method: "POST",
        headers: { authorization: `Bearer ${fx.adminToken}`, "content-type": "application/json" },
        body: JSON.stringify({ name: "live", protocol: "imaps", host: dovecot.host, port: dovecot.ports.imaps, username: box.name, password: box.password, tlsCa: dovecot.certPem }),
      });
      expect(account.status).toBe(201);
      const run = await fetch(`${server.url}/api/v1/accounts/live/fetch`, { method: "POST", headers: { authorization: `Bearer ${fx.adminToken}` } });
      expect(run.status).toBe(202);
      const reader = stream.body!.getReader();
      let text = "";
      while (!text.includes("event: message.stored")) {
        const { value, done } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString("utf8");
      }
      expect(text).toContain("event: run.progress");
      expect(text).toMatch(/event: message.stored\ndata: \{[^\n]*"subject":"Live one"/);
    } finally {
      abort.abort();
      await server.close();
      await fx.close();
    }
  });
});
