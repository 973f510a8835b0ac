import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mailboxPool, startDovecot, type DovecotServer } from "../harness/dovecot.js";
import { makeMessage, TEST_KEY } from "../retrieval/retrieval-fixture.js";
import { cli } from "./cli-harness.js";

const CLI = new URL("../../src/bin/inbound.ts", import.meta.url).pathname;

interface Received {
  eventId: string;
  type: string;
  messageId: string | null;
  subject: string | null;
}

/** A webhook receiver whose behaviour the test switches: answer, or hold requests until released. */
function startReceiver() {
  const received: Received[] = [];
  let hold = false;
  const held: Array<() => void> = [];
  let firstHeld: (() => void) | undefined;
  const server: Server = createServer((req: IncomingMessage, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      const answer = () => {
        const parsed = JSON.parse(body) as { id: string; type: string; message?: { id: string; subject: string | null } };
        received.push({ eventId: parsed.id, type: parsed.type, messageId: parsed.message?.id ?? null, subject: parsed.message?.subject ?? null });
        res.writeHead(200).end("ok");
      };
      if (hold) {
        held.push(() => res.destroy());
        firstHeld?.();
        return;
      }
      answer();
    });
  });
  return {
    received,
    listen: () => new Promise<string>((resolve) => server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as { port: number }).port}/hook`))),
    holdNext: () => {
      hold = true;
      return new Promise<void>((resolve) => (firstHeld = resolve));
    },
    release: () => {
      hold = false;
      held.splice(0).forEach((drop) => drop());
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function startServe(env: Record<string, string | undefined>, args: string[] = []): { child: ChildProcess; url: Promise<string>; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ["--import", "tsx", CLI, "serve", "--port", "0", ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stderr?.on("data", (d) => (err += d));
  const url = new Promise<string>((resolve, reject) => {
    child.stdout?.on("data", (d) => {
      out += d;
      const match = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (match) resolve(match[1]);
    });
    child.once("exit", (code) => reject(new Error(`serve exited early (${code}): ${err}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, url, exited };
}

async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("inbound serve", () => {
  let dovecot: DovecotServer;
  let receiver: ReturnType<typeof startReceiver>;
  let env: Record<string, string | undefined>;
  let hookUrl: string;

  beforeAll(async () => {
    dovecot = await startDovecot({ users: mailboxPool(1) });
    receiver = startReceiver();
    hookUrl = await receiver.listen();
    env = { INBOUND_DATA_DIR: mkdtempSync(join(tmpdir(), "inbound-serve-")), INBOUND_ENCRYPTION_KEY: TEST_KEY, INBOUND_ADMIN_PASSWORD: "admin-pass-1234", INBOUND_LOG_LEVEL: "warn" };
    const box = dovecot.users[0];
    const add = await cli(["accounts", "add", "--name", "desk", "--protocol", "imap", "--security", "none", "--host", "127.0.0.1", "--port", String(dovecot.ports.imap), "--user", box.name, "--password-stdin"], env, box.password);
    expect(add.code, add.stderr).toBe(0);
    expect((await cli(["subscribe", "desk"], env)).code).toBe(0);
    const hook = await cli(["webhooks", "add", "--url", hookUrl, "--events", "message.received", "--json"], env);
    expect(hook.code, hook.stderr).toBe(0);
  });
  afterAll(async () => {
    await receiver?.close();
    await dovecot?.stop();
  });

  it("delivers mail that arrives under a subscription once, survives SIGKILL mid-delivery, and drains on SIGTERM", async () => {
    const first = startServe(env);
    await first.url;
    for (let i = 1; i <= 3; i++) dovecot.deliver(dovecot.users[0].name, makeMessage(i));
    await until(() => receiver.received.length >= 3, 30_000, "three webhook deliveries");
    expect(receiver.received.map((r) => r.subject).sort()).toEqual(["Message 1", "Message 2", "Message 3"]);

    // Hold the next delivery at the receiver and kill the service while it is in flight.
    const heldOne = receiver.holdNext();
    for (let i = 4; i <= 6; i++) dovecot.deliver(dovecot.users[0].name, makeMessage(i));
    await heldOne;
    first.child.kill("SIGKILL");
    await first.exited;
    receiver.release();

    // Mail that arrives while nothing runs is caught up on restart.
    dovecot.deliver(dovecot.users[0].name, makeMessage(7));
    const second = startServe(env);
    const url = await second.url;
    await until(() => new Set(receiver.received.map((r) => r.subject)).size >= 7, 60_000, "all seven messages at the receiver");
    const byMessage = new Map<string, Set<string>>();
    for (const r of receiver.received) {
      const ids = byMessage.get(r.messageId ?? "") ?? new Set<string>();
      ids.add(r.eventId);
      byMessage.set(r.messageId ?? "", ids);
    }
    // Each message once; a repeat (the one in flight at the kill) only ever carries the same event id.
    expect(byMessage.size).toBe(7);
    for (const ids of byMessage.values()) expect(ids.size).toBe(1);

    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/inbound_account_state\{account="desk",state="subscribed"\} 1/);
    expect(metrics).toMatch(/inbound_messages_stored\{account="desk"\} 7/);

    second.child.kill("SIGTERM");
    const code = await Promise.race([second.exited, new Promise((r) => setTimeout(() => r("timeout"), 30_000))]);
    expect(code).toBe(0);
  }, 150_000);
});

describe("inbound serve behind a proxy", () => {
  const base = () => ({ INBOUND_DATA_DIR: mkdtempSync(join(tmpdir(), "inbound-proxy-")), INBOUND_ENCRYPTION_KEY: TEST_KEY, INBOUND_ADMIN_PASSWORD: "admin-pass-1234", INBOUND_LOG_LEVEL: "warn" });

  it("refuses a --trust-proxy or INBOUND_TRUST_PROXY it cannot read with CONFIG_INVALID naming it (exit 2)", async () => {
    const flag = await cli(["serve", "--port", "0", "--trust-proxy", "proxy.local", "--json"], base());
    expect(flag.code).toBe(2);
    expect(flag.json().error).toMatchObject({ code: "CONFIG_INVALID", message: expect.stringMatching(/^--trust-proxy: must be true, false, or addresses and CIDR ranges/), details: { fields: [{ field: "--trust-proxy" }] } });
    const env = await cli(["serve", "--port", "0"], { ...base(), INBOUND_TRUST_PROXY: "2" });
    expect(env.code).toBe(2);
    expect(env.stderr).toMatch(/^error \[CONFIG_INVALID\]: INBOUND_TRUST_PROXY: must name the proxy/);
  });

  it("with --trust-proxy: a Secure cookie for HTTPS at the proxy, and each client behind it limited on its own", async () => {
    const serve = startServe(base(), ["--trust-proxy", "127.0.0.1"]);
    try {
      const url = await serve.url;
      const signIn = (password: string, headers: Record<string, string>) =>
        fetch(`${url}/api/v1/session`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ username: "admin", password }) });
      const https = await signIn("admin-pass-1234", { "x-forwarded-proto": "https", "x-forwarded-for": "198.51.100.1" });
      expect(https.status).toBe(201);
      expect(https.headers.get("set-cookie")).toMatch(/;\s*Secure/i);
      const http = await signIn("admin-pass-1234", { "x-forwarded-for": "198.51.100.1" });
      expect(http.headers.get("set-cookie")).not.toMatch(/;\s*Secure/i);
      for (let i = 0; i < 5; i++) expect((await signIn("wrong-password", { "x-forwarded-for": "198.51.100.66" })).status).toBe(401);
      expect((await signIn("admin-pass-1234", { "x-forwarded-for": "198.51.100.66" })).status).toBe(429);
      expect((await signIn("admin-pass-1234", { "x-forwarded-for": "198.51.100.2" })).status).toBe(201);
    } finally {
      serve.child.kill("SIGTERM");
      await serve.exited;
    }
  }, 60_000);
});
