// The two reference measurements, each run in its own process so its peak
// RSS is its own. Plain JavaScript on purpose: no TypeScript loader in the
// process, so its memory compares with the built `inbound` CLI.
//
//   node bench/probes/bare-imapflow.mjs fetch|parse   (connection as JSON in BENCH_IMAP)
//
// fetch: `UID FETCH 1:* (BODY.PEEK[])`, each message's bytes touched and dropped — the Node ceiling.
// parse: the same, plus mailparser's simpleParser on each message, one at a time — the naive baseline.
// Prints one JSON line: { messages, bytes, ms, parsed, attachments }.
import { ImapFlow } from "imapflow";
import { simpleParser } from "mailparser";

const mode = process.argv[2];
if (mode !== "fetch" && mode !== "parse") throw new Error("usage: bare-imapflow.mjs fetch|parse");
const { host, port, user, password } = JSON.parse(process.env.BENCH_IMAP ?? "{}");

const started = performance.now();
const client = new ImapFlow({ host, port, secure: false, doSTARTTLS: false, auth: { user, pass: password }, logger: false, disableAutoIdle: true });
await client.connect();
await client.mailboxOpen("INBOX");
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
}
const ms = performance.now() - started;
await client.logout();
process.stdout.write(`${JSON.stringify({ messages, bytes, ms, parsed, attachments })}\n`);
