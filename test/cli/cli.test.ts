import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mailboxPool, startDovecot, type DovecotServer } from "../harness/dovecot.js";
import { DIALECTS, createTestDatabase, type TestDatabase } from "../store/test-databases.js";
import { cli } from "./cli-harness.js";

const INLINE_IMAGE_MESSAGE = [
  "From: Shop <shop@example.com>",
  "To: support@example.com",
  "Subject: =?UTF-8?Q?Invoice_=E2=82=AC_42?=",
  "Message-ID: <invoice-42@example.com>",
  "Date: Tue, 01 Sep 2026 10:00:00 +0000",
  "MIME-Version: 1.0",
  'Content-Type: multipart/mixed; boundary="outer"',
  "",
  "--outer",
  'Content-Type: multipart/related; boundary="rel"',
  "",
  "--rel",
  "Content-Type: text/html; charset=utf-8",
  "",
  '<p>Your invoice <img src="cid:logo@shop"></p><script>alert(1)</script>',
  "--rel",
  "Content-Type: image/png",
  "Content-ID: <logo@shop>",
  "Content-Transfer-Encoding: base64",
  "Content-Disposition: inline",
  "",
  "iVBORw0KGgo=",
  "--rel--",
  "--outer",
  "Content-Type: application/pdf",
  "Content-Transfer-Encoding: base64",
  "Content-Disposition: attachment; filename*=UTF-8''%E2%82%AC%20rates.pdf",
  "",
  "JVBERi0xLjQK",
  "--outer--",
  "",
].join("\r\n");

describe.each(DIALECTS)("the inbound CLI on %s", (dialect) => {
  let dovecot: DovecotServer;
  let db: TestDatabase;
  let env: Record<string, string | undefined>;
  let caFile: string;
  const secret = "alice-Very-Secret-123";

  beforeAll(async () => {
    dovecot = await startDovecot({ users: [{ name: "alice", password: secret }, ...mailboxPool(2)] });
    db = await createTestDatabase(dialect);
    env = { INBOUND_DATA_DIR: db.dataDir, DATABASE_URL: db.databaseUrl };
    caFile = join(mkdtempSync(join(tmpdir(), "inbound-ca-")), "ca.pem");
    writeFileSync(caFile, dovecot.certPem);
  });
  afterAll(async () => {
    await dovecot?.stop();
    await db?.cleanup();
  });

  it("adds, shows, updates, tests, fetches and removes an account, never printing the password", async () => {
    const outputs: string[] = [];
    const run = async (args: string[], stdin = "") => {
      const result = await cli(args, env, stdin);
      outputs.push(result.stdout, result.stderr);
      return result;
    };
    dovecot.deliver("alice", INLINE_IMAGE_MESSAGE);

    const added = await run(["accounts", "add", "--name", "support", "--protocol", "imaps", "--host", "127.0.0.1", "--port", String(dovecot.ports.imaps), "--user", "alice", "--password-stdin", "--tls-ca", caFile, "--inline-images", "--mark-seen", "--json"], `${secret}\n`);
    expect(added.code, added.stderr).toBe(0);
    expect(added.json()).toMatchObject({ name: "support", protocol: "imaps", security: "tls", port: dovecot.ports.imaps, tlsVerify: true, inlineImages: true, markSeen: true, sanitize: true, folder: "INBOX", after: "none" });
    // The first start without INBOUND_ENCRYPTION_KEY made a key file, readable only by its owner, and said so once.
    expect(statSync(join(db.dataDir, "secret.key")).mode & 0o777).toBe(0o600);
    expect(added.stderr).toMatch(/secret\.key/);
    const again = await run(["accounts", "list", "--json"]);
    expect(again.stderr).not.toMatch(/secret\.key/);
    expect(again.json().map((a: { name: string }) => a.name)).toEqual(["support"]);

    const shown = await run(["accounts", "show", "support"]);
    expect(shown.stdout).toContain("support (imaps, 127.0.0.1:");

    const tested = await run(["accounts", "test", "support", "--json"]);
    expect(tested.code, tested.stderr).toBe(0);
    expect(tested.json()).toMatchObject({ ok: true, messages: 1 });

    const folders = await run(["folders", "support", "--json"]);
    expect(folders.json().map((f: { path: string }) => f.path)).toContain("INBOX");

    const fetched = await run(["fetch", "support", "--json"]);
    expect(fetched.code, fetched.stderr).toBe(0);
    expect(fetched.json()).toMatchObject({ fetched: 1, stored: 1, duplicates: 0, parseErrors: 0, postActions: 1 });
    expect(Object.keys(fetched.json())).toEqual(expect.arrayContaining(["fetched", "stored", "duplicates", "parseErrors", "postActions", "durationMs"]));

    const list = await run(["messages", "list", "--account", "support", "--json"]);
    const [message] = list.json().items;
    expect(message.subject).toBe("Invoice € 42");

    const html = await run(["messages", "show", message.id, "--html"]);
    expect(html.stdout).not.toContain("<script");
    expect(html.stdout).toMatch(/<img src="\/api\/v1\/attachments\/[0-9a-f-]+\/content"/);

    const raw = await run(["messages", "show", message.id, "--raw"]);
    expect(raw.stdout).toBe(INLINE_IMAGE_MESSAGE);

    const target = mkdtempSync(join(tmpdir(), "inbound-att-"));
    const saved = await run(["attachments", "save", message.id, target, "--json"]);
    expect(saved.code, `${saved.stderr}${saved.stdout}`).toBe(0);
    expect(readdirSync(target).sort()).toEqual(["attachment-1", "€ rates.pdf"].sort());
    expect(readFileSync(join(target, "€ rates.pdf")).toString()).toBe("%PDF-1.4\n");

    const updated = await run(["accounts", "update", "support", "--after", "move", "--move-to", "Done", "--no-mark-seen", "--json"]);
    expect(updated.code, updated.stderr).toBe(0);
    expect(updated.json()).toMatchObject({ after: "move", moveTo: "Done", markSeen: false, inlineImages: true });

    const rotated = await run(["keys", "rotate", "--json"]);
    expect(rotated.json()).toMatchObject({ resealed: 1 });
    expect((await run(["accounts", "test", "support", "--json"])).code).toBe(0);

    const removed = await run(["accounts", "remove", "support", "--json"]);
    expect(removed.code).toBe(0);
    expect((await run(["accounts", "show", "support", "--json"])).json().error.code).toBe("ACCOUNT_NOT_FOUND");

    for (const text of outputs) expect(text).not.toContain(secret);
  });

  it("applies every account flag a script may pass, and prints no secret even at log level trace", async () => {
    const box = dovecot.users[2];
    const work = (n: number) =>
      [
        "From: Shop <shop@example.com>",
        "To: support@example.com",
        `Subject: Work ${n}`,
        `Message-ID: <work-${n}@example.com>`,
        `Date: Tue, 0${n} Sep 2026 10:00:00 +0000`,
        "MIME-Version: 1.0",
        "Content-Type: text/html; charset=utf-8",
        "",
        `<p onclick="steal()">Order <b>${n}</b></p>`,
        "",
      ].join("\r\n");
    for (const n of [1, 2, 3]) dovecot.deliver(box.name, work(n), "Work");
    dovecot.deliver(box.name, "Subject: not in Work\r\n\r\nInbox only\r\n");
    const traced = { ...env, INBOUND_LOG_LEVEL: "trace" };
    const outputs: string[] = [];
    const run = async (args: string[], stdin = "") => {
      const result = await cli(args, traced, stdin);
      outputs.push(result.stdout, result.stderr);
      return result;
    };

    // No --tls-ca: the self-signed certificate is accepted only because verification is off for this account.
    const added = await run(["accounts", "add", "--name", "flags", "--protocol", "imaps", "--host", "127.0.0.1", "--port", String(dovecot.ports.imaps), "--user", box.name, "--password-stdin",
      "--no-tls-verify", "--folder", "Work", "--strategy", "latest", "--limit", "2", "--batch-size", "1", "--timeout", "20000", "--no-sanitize", "--disabled", "--json"], `${box.password}\n`);
    expect(added.code, added.stderr).toBe(0);
    expect(added.json()).toMatchObject({ tlsVerify: false, folder: "Work", strategy: "latest", limit: 2, all: false, batchSize: 1, timeoutMs: 20000, sanitize: false, enabled: false });
    const shown = await run(["accounts", "show", "flags", "--json"]);
    expect(shown.json()).toMatchObject({ name: "flags", enabled: false });

    const refused = await run(["fetch", "flags", "--json"]);
    expect(refused.code).toBe(1);
    expect(refused.json().error.code).toBe("ACCOUNT_DISABLED");
    expect(refused.json().error.message).toContain("inbound accounts update flags --enabled");

    expect((await run(["accounts", "update", "flags", "--enabled", "--json"])).json()).toMatchObject({ enabled: true });
    const latest = await run(["fetch", "flags", "--json"]);
    expect(latest.code, latest.stderr).toBe(0);
    expect(latest.json()).toMatchObject({ fetched: 2, stored: 2 });
    const first = await run(["messages", "list", "--account", "flags", "--limit", "1", "--json"]);
    expect(first.json().items).toHaveLength(1);
    expect(first.json().nextCursor).toEqual(expect.any(String));
    const all = (await run(["messages", "list", "--account", "flags", "--json"])).json().items;
    expect(all.map((m: { subject: string }) => m.subject).sort()).toEqual(["Work 2", "Work 3"]);

    // Sanitizing off: --html is the message's own HTML; --text is derived from it.
    const html = await run(["messages", "show", all[0].id, "--html"]);
    expect(html.stdout).toContain('onclick="steal()"');
    const text = await run(["messages", "show", all[0].id, "--text"]);
    expect(text.stdout).toMatch(/^Order [23]\n/);

    // --all then takes what is left of the folder, oldest first.
    expect((await run(["accounts", "update", "flags", "--all", "--json"])).json()).toMatchObject({ all: true });
    expect((await run(["fetch", "flags", "--json"])).json()).toMatchObject({ fetched: 1, stored: 1 });
    expect(dovecot.count(box.name, "Work")).toBe(3);

    expect((await run(["accounts", "remove", "flags", "--json"])).code).toBe(0);
    // Nothing any of these commands printed (stdout, stderr, logs at trace) holds the password.
    for (const text of outputs) expect(text).not.toContain(box.password);
  });

  it("rejects invalid settings field by field, with exit code 2 and nothing stored", async () => {
    const result = await cli(["accounts", "add", "--name", "bad name!", "--protocol", "pop3", "--host", "mail.example.com", "--port", "70000", "--user", "u", "--password", "p", "--limit", "0", "--json"], env);
    expect(result.code).toBe(2);
    const error = result.json().error;
    expect(error.code).toBe("CONFIG_INVALID");
    expect(error.details.fields.map((f: { field: string }) => f.field).sort()).toEqual(["limit", "name", "port"]);

    const cross = await cli(["accounts", "add", "--name", "pop", "--protocol", "pop3", "--host", "h", "--user", "u", "--password", "p", "--after", "move", "--move-to", "X"], env);
    expect(cross.code).toBe(2);
    expect(cross.stderr).toMatch(/after: POP3 cannot move messages/);

    const notNumber = await cli(["accounts", "add", "--name", "n", "--protocol", "imap", "--host", "h", "--user", "u", "--password", "p", "--timeout", "soon"], env);
    expect(notNumber.code).toBe(2);
    expect(notNumber.stderr).toMatch(/timeoutMs: must be a whole number/);
    expect((await cli(["accounts", "list", "--json"], env)).json()).toEqual([]);
  });

  it("says in plain words why a connection failed", async () => {
    const box = dovecot.users[1];
    const add = await cli(["accounts", "add", "--name", "wrong", "--protocol", "imap", "--security", "starttls", "--host", "127.0.0.1", "--port", String(dovecot.ports.imap), "--user", box.name, "--password", "nope-nope", "--tls-ca", caFile], env);
    expect(add.code, add.stderr).toBe(0);
    const tested = await cli(["accounts", "test", "wrong"], env);
    expect(tested.code).toBe(1);
    expect(tested.stderr).toMatch(/IMAP_AUTH_FAILED.*rejected the user name or password/);
    expect(tested.stderr).not.toContain("nope-nope");
  });
});

describe("inbound with no data yet", () => {
  it("keeps its SQLite database and blobs under the data dir", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "inbound-fresh-"));
    const result = await cli(["--data-dir", dataDir, "accounts", "list"], { INBOUND_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString("hex") });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/No accounts yet/);
    expect(existsSync(join(dataDir, "inbound.db"))).toBe(true);
    expect(existsSync(join(dataDir, "secret.key"))).toBe(false);
  });

  it("refuses, in plain words, to use a stored password under another key, and never prints garbage or the secret", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "inbound-keys-"));
    const keyA = { INBOUND_ENCRYPTION_KEY: Buffer.alloc(32, 0xa1).toString("base64") };
    const keyB = { INBOUND_ENCRYPTION_KEY: Buffer.alloc(32, 0xb2).toString("base64") };
    const password = "Only-Key-A-Knows-This-1";
    // Port 1 on loopback refuses connections: a fetch that gets that far has read the password.
    const added = await cli(["--data-dir", dataDir, "accounts", "add", "--name", "k", "--protocol", "imap", "--security", "none", "--host", "127.0.0.1", "--port", "1", "--user", "u", "--password", password], keyA);
    expect(added.code, added.stderr).toBe(0);

    const wrong = await cli(["--data-dir", dataDir, "fetch", "k", "--json"], keyB);
    expect(wrong.code).toBe(1);
    const error = wrong.json().error;
    expect(["SECRET_KEY_UNKNOWN", "SECRET_KEY_MISMATCH"]).toContain(error.code);
    expect(error.message).toMatch(/INBOUND_ENCRYPTION_KEY|secret\.key/);
    expect(wrong.stdout + wrong.stderr).not.toContain(password);

    const right = await cli(["--data-dir", dataDir, "fetch", "k", "--json"], keyA);
    expect(right.json().error.code).toBe("CONNECTION_FAILED");
    expect(right.stdout + right.stderr).not.toContain(password);
  });
});
