import { collect, rejection } from "../../harness/expectations.js";
import { createHash } from "node:crypto";
import { chownSync, createWriteStream, readFileSync, renameSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InboundError } from "../../../src/core/inbound-error.js";
import { connectPop3, type Pop3ConnectOptions } from "../../../src/protocols/pop3/index.js";
import { removeDovecotDir, startDovecot, type DovecotServer } from "../../harness/dovecot.js";

const USERS = ["alice", "tls-user", "starttls-user", "mailbox-user", "quit-user", "close-user", "big-user"].map((name) => ({ name, password: `${name}-secret` }));

let dovecot: DovecotServer;

beforeAll(async () => {
  dovecot = await startDovecot({ users: USERS });
});

afterAll(async () => {
  await dovecot?.stop();
  if (dovecot) removeDovecotDir(dovecot);
});

function options(user: string, overrides: Partial<Pop3ConnectOptions> = {}): Pop3ConnectOptions {
  return {
    host: dovecot.host,
    port: dovecot.ports.pop3,
    security: "none",
    tlsVerify: true,
    username: user,
    password: `${user}-secret`,
    timeoutMs: 10_000,
    ...overrides,
  };
}

function loginLines(user: string, server: DovecotServer = dovecot): string[] {
  return readFileSync(join(server.dir, "dovecot.log"), "utf8").split("\n").filter((l) => /pop3-login: (?:Info: )?Login:/.test(l) && l.includes(`user=<${user}>`));
}

// Dovecot writes its log asynchronously; give the login line a moment to appear.
async function waitForLoginLines(user: string): Promise<string[]> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const lines = loginLines(user);
    if (lines.length > 0 || Date.now() > deadline) return lines;
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Built with CRLF so Dovecot serves it byte for byte.
function message(seq: number, body: string): Buffer {
  return Buffer.from(`From: sender@example.com\r\nTo: mailbox-user@example.com\r\nSubject: message ${seq}\r\nX-Seq: ${seq}\r\nMessage-ID: <${seq}@example.com>\r\n\r\n${body}`, "utf8");
}

function seqOf(raw: Buffer): number {
  const match = /^X-Seq: (\d+)\r$/m.exec(raw.toString("latin1"));
  if (!match) throw new Error("no X-Seq header");
  return Number(match[1]);
}

describe("POP3 client against Dovecot: security and login", () => {
  it("logs in over plaintext with security none and reads CAPA and STAT", async () => {
    dovecot.deliver("alice", message(1, "hello\r\n"));
    const client = await connectPop3(options("alice"));
    try {
      expect(client.capabilities.has("UIDL")).toBe(true);
      expect(client.capabilities.has("PIPELINING")).toBe(true);
      expect(await client.stat()).toEqual({ count: 1, size: message(1, "hello\r\n").length });
      await client.noop();
      await client.quit();
    } finally {
      client.close();
    }
  });

  it("upgrades with STLS, trusting the certificate given as tlsCa, before logging in", async () => {
    const client = await connectPop3(options("starttls-user", { security: "starttls", tlsCa: dovecot.certPem }));
    try {
      expect(await client.stat()).toEqual({ count: 0, size: 0 });
      await client.quit();
    } finally {
      client.close();
    }
    // Dovecot marks logins over TLS with "TLS" in its login log line.
    const lines = await waitForLoginLines("starttls-user");
    expect(lines.length).toBe(1);
    expect(lines[0]).toMatch(/\bTLS\b/);
  });

  it("connects with implicit TLS (pop3s) and trusts tlsCa", async () => {
    const client = await connectPop3(options("tls-user", { port: dovecot.ports.pop3s, security: "tls", tlsCa: dovecot.certPem }));
    try {
      expect(await client.list()).toEqual([]);
      await client.quit();
    } finally {
      client.close();
    }
    const lines = await waitForLoginLines("tls-user");
    expect(lines.length).toBe(1);
    expect(lines[0]).toMatch(/\bTLS\b/);
  });

  it("refuses to continue in plaintext when STLS is required but the server does not offer it", async () => {
    const plain = await startDovecot({ ssl: false });
    try {
      const error = await rejection(connectPop3({ ...options("alice"), host: plain.host, port: plain.ports.pop3, password: "alice-secret", security: "starttls" }));
      expect(error.code).toBe("STARTTLS_UNSUPPORTED");
      expect(error.retryable).toBe(false);
      expect(loginLines("alice", plain)).toEqual([]);
    } finally {
      await plain.stop();
      removeDovecotDir(plain);
    }
  });

  it("reports an untrusted self-signed certificate as TLS_CERT_UNTRUSTED and says how to trust it", async () => {
    for (const overrides of [
      { port: dovecot.ports.pop3s, security: "tls" as const },
      { security: "starttls" as const },
    ]) {
      const error = await rejection(connectPop3(options("alice", overrides)));
      expect(error.code).toBe("TLS_CERT_UNTRUSTED");
      expect(error.message).toContain("tlsCa");
      expect(error.message).toContain("--tls-ca");
      expect(error.message).toMatch(/tlsVerify: false|--no-tls-verify/);
    }
  });

  it("accepts the untrusted certificate when tlsVerify is false", async () => {
    for (const overrides of [
      { port: dovecot.ports.pop3s, security: "tls" as const, tlsVerify: false },
      { security: "starttls" as const, tlsVerify: false },
    ]) {
      const client = await connectPop3(options("alice", overrides));
      try {
        expect((await client.stat()).count).toBe(1);
      } finally {
        client.close();
      }
    }
  });

  it("fails a wrong password with POP3_AUTH_FAILED, not retryable, and never shows the password", async () => {
    const password = "Wr0ng-pa55word-7f3a";
    for (const security of ["none", "starttls"] as const) {
      const error = await rejection(connectPop3(options("alice", { password, security, tlsCa: dovecot.certPem })));
      expect(error.code).toBe("POP3_AUTH_FAILED");
      expect(error.retryable).toBe(false);
      const everything = `${error.message} ${JSON.stringify(error)} ${JSON.stringify(error.details)} ${error.stack}`;
      expect(everything).not.toContain(password);
      expect(everything).not.toContain(Buffer.from(`\0alice\0${password}`).toString("base64"));
    }
  });

  it("fails a closed port with CONNECTION_FAILED naming host and port, retryable", async () => {
    const server = (await import("node:net")).createServer();
    const port = await new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)));
    await new Promise((resolve) => server.close(resolve));
    const error = await rejection(connectPop3(options("alice", { port })));
    expect(error.code).toBe("CONNECTION_FAILED");
    expect(error.retryable).toBe(true);
    expect(error.message).toContain(`127.0.0.1:${port}`);
  });
});

describe("POP3 client against Dovecot: messages", () => {
  const delivered = new Map<number, Buffer>();

  beforeAll(() => {
    for (let seq = 1; seq <= 20; seq++) {
      let body = `Body of message ${seq}.\r\n`;
      if (seq === 7) body = ".starts with one dot\r\n..starts with two dots\r\n.\r\n..\r\n...\r\nend . \r\n.\r\n";
      if (seq === 13) body = `${"x".repeat(10_000)}\r\nafter the long line\r\n`;
      if (seq === 17) body = "\r\n\r\n. \r\n.x\r\n";
      const raw = message(seq, body);
      delivered.set(seq, raw);
      dovecot.deliver("mailbox-user", raw);
    }
  });

  it("lists, uidls and retrieves 20 messages byte for byte, dot-stuffed and long lines included", async () => {
    // A small line limit proves message bodies are not held to it.
    const client = await connectPop3(options("mailbox-user", { maxLineLength: 1024 }));
    try {
      const listing = await client.list();
      expect(listing.map((e) => e.number)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      const ids = await client.uidl();
      expect(ids.map((e) => e.number)).toEqual(listing.map((e) => e.number));
      expect(new Set(ids.map((e) => e.uidl)).size).toBe(20);

      const received = new Map<number, Buffer>();
      const order: number[] = [];
      await client.retrieve(listing.map((e) => e.number), async (number, body) => {
        order.push(number);
        received.set(number, await collect(body));
      });
      expect(order).toEqual(listing.map((e) => e.number));
      const seen = new Set<number>();
      for (const { number, size } of listing) {
        const raw = received.get(number)!;
        const seq = seqOf(raw);
        seen.add(seq);
        expect(raw.equals(delivered.get(seq)!)).toBe(true);
        expect(raw.length).toBe(size);
      }
      expect(seen.size).toBe(20);

      const header = await client.top(1, 0);
      const first = received.get(1)!;
      expect(header.equals(first.subarray(0, first.indexOf("\r\n\r\n") + 4))).toBe(true);
      await client.quit();
    } finally {
      client.close();
    }
  });

  it("a handler that reads nothing or fails leaves the session in sync", async () => {
    const client = await connectPop3(options("mailbox-user"));
    try {
      await client.retrieve([1, 2, 3], async () => undefined);
      const failure = new Error("handler failed");
      await expect(client.retrieve([4, 5, 6], async (n) => {
        if (n === 5) throw failure;
      })).rejects.toBe(failure);
      const [seven] = await new Promise<Buffer[]>((resolve, reject) => {
        const got: Buffer[] = [];
        client.retrieve([7], async (_n, body) => void got.push(await collect(body))).then(() => resolve(got), reject);
      });
      expect(seven.length).toBeGreaterThan(0);
      expect((await client.stat()).count).toBe(20);
    } finally {
      client.close();
    }
  });
});

describe("POP3 client against Dovecot: deletion", () => {
  it("deletes on the server only after a successful QUIT", async () => {
    for (let i = 0; i < 5; i++) dovecot.deliver("quit-user", message(i, "to delete\r\n"));
    const client = await connectPop3(options("quit-user"));
    try {
      await client.dele([1, 2, 3, 4, 5]);
      expect((await client.stat()).count).toBe(0);
      expect(dovecot.count("quit-user")).toBe(5);
      await client.quit();
    } finally {
      client.close();
    }
    expect(dovecot.count("quit-user")).toBe(0);
  });

  it("keeps messages marked deleted when the connection is closed without QUIT", async () => {
    for (let i = 0; i < 5; i++) dovecot.deliver("close-user", message(i, "to keep\r\n"));
    const client = await connectPop3(options("close-user"));
    await client.dele([1, 2, 3, 4, 5]);
    expect((await client.stat()).count).toBe(0);
    client.close();
    // A new session sees them all again, so the server rolled the deletions back.
    const again = await connectPop3(options("close-user"));
    try {
      expect((await again.stat()).count).toBe(5);
      await again.quit();
    } finally {
      again.close();
    }
    expect(dovecot.count("close-user")).toBe(5);
  });

  it("fails DELE of a missing message with POP3_COMMAND_FAILED and stays usable", async () => {
    const client = await connectPop3(options("close-user"));
    try {
      const error = await rejection(client.dele([1, 99, 2]));
      expect(error.code).toBe("POP3_COMMAND_FAILED");
      expect(error.details.refused).toEqual([expect.objectContaining({ number: 99 })]);
      expect((await client.stat()).count).toBe(3);
      await client.rset();
      expect((await client.stat()).count).toBe(5);
    } finally {
      client.close();
    }
  });
});

describe("POP3 client against Dovecot: large messages", () => {
  it("streams a 100 MB message through retrieve with flat memory", async () => {
    // Written straight into the Maildir so the test itself never holds 100 MB.
    const maildir = dovecot.maildir("big-user");
    const name = `${Date.now()}.big.inbound-test`;
    const tmp = join(maildir, "tmp", name);
    const hash = createHash("sha256");
    const out = createWriteStream(tmp);
    const write = (text: string) => {
      hash.update(text);
      return new Promise<void>((resolve) => (out.write(text) ? resolve() : out.once("drain", resolve)));
    };
    await write("From: big@example.com\r\nSubject: big\r\n\r\n");
    const line = `${"0123456789".repeat(100)}\r\n`;
    for (let i = 0; i < 100 * 1024; i++) await write(i % 1000 === 0 ? `.${line}` : line);
    await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
    const size = statSync(tmp).size;
    const { uid, gid } = statSync(maildir);
    chownSync(tmp, uid, gid);
    renameSync(tmp, join(maildir, "new", name));
    const expected = hash.digest("hex");

    const client = await connectPop3(options("big-user", { timeoutMs: 60_000 }));
    try {
      const baseline = process.memoryUsage().rss;
      let peak = baseline;
      let bytes = 0;
      const got = createHash("sha256");
      await client.retrieve([1], async (_n, body) => {
        for await (const chunk of body) {
          got.update(chunk as Buffer);
          bytes += (chunk as Buffer).length;
          peak = Math.max(peak, process.memoryUsage().rss);
        }
      });
      expect(bytes).toBe(size);
      expect(got.digest("hex")).toBe(expected);
      expect(peak - baseline).toBeLessThan(60 * 1024 * 1024);
      await client.quit();
    } finally {
      client.close();
    }
  }, 180_000);
});
