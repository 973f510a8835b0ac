// The two reference measurements, each run in its own process so its peak
// RSS is its own. Plain JavaScript on purpose: no TypeScript loader in the
// process, so its memory compares with the built `inbound` CLI.
//
//   node bench/probes/bare-imapflow.mjs fetch|parse|durable   (connection as JSON in BENCH_IMAP)
//
// fetch: `UID FETCH 1:* (BODY.PEEK[])`, each message's bytes touched and dropped — the Node ceiling.
// parse: the same, plus mailparser's simpleParser on each message, one at a time — the naive baseline.
// durable: the same as fetch, plus what a durable take cannot skip: each message's SHA-256, its bytes
//   appended to one file, and an fsync every 100 messages (the bench's batch size) — no database, no
//   headers, nothing else. A floor for "durably taken" (the file goes in BENCH_SPOOL_DIR).
// Prints one JSON line: { messages, bytes, ms, parsed, attachments }.
import { createHash } from "node:crypto";
import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ImapFlow } from "imapflow";
import { simpleParser } from "mailparser";

const mode = process.argv[2];
if (mode !== "fetch" && mode !== "parse" && mode !== "durable") throw new Error("usage: bare-imapflow.mjs fetch|parse|durable");
const BATCH = 100;
const { host, port, user, password } = JSON.parse(process.env.BENCH_IMAP ?? "{}");

const started = performance.now();
const client = new ImapFlow({ host, port, secure: false, doSTARTTLS: false, auth: { user, pass: password }, logger: false, disableAutoIdle: true });
await client.connect();
await client.mailboxOpen("INBOX");
const spoolDir = mode === "durable" ? mkdtempSync(join(process.env.BENCH_SPOOL_DIR ?? tmpdir(), "floor-")) : null;
const spool = spoolDir === null ? null : openSync(join(spoolDir, "spool"), "w");
let messages = 0;
let bytes = 0;
let parsed = 0;
let attachments = 0;
for await (const message of client.fetch("1:*", { uid: true, source: true }, { uid: true })) {
  messages++;
  bytes += message.source.length;
  if (mode === "parse") {
    const mail = await simpleParser(message.source);
    parsed++;
    attachments += mail.attachments.length;
  }
  if (spool !== null) {
    createHash("sha256").update(message.source).digest("hex");
    writeSync(spool, message.source);
    if (messages % BATCH === 0) fsyncSync(spool);
  }
}
if (spool !== null) {
  fsyncSync(spool);
  closeSync(spool);
}
const ms = performance.now() - started;
if (spoolDir !== null) rmSync(spoolDir, { recursive: true, force: true });
await client.logout();
process.stdout.write(`${JSON.stringify({ messages, bytes, ms, parsed, attachments })}\n`);
