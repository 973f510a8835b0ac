import { readFileSync } from "node:fs";
import { Command, Option } from "commander";
import { InboundError } from "../core/inbound-error.js";

/**
 * The account flags scripts depend on, shared by `accounts add` and
 * `accounts update`. Negatable flags come in pairs so an update can turn a
 * setting either way (`--mark-seen` / `--no-mark-seen`).
 */
export function addAccountFlags(command: Command, forUpdate: boolean): Command {
  if (!forUpdate) command.requiredOption("--name <name>", "account name (letters, digits, . _ @ -)");
  return command
    .addOption(new Option("--protocol <protocol>", "imap | imaps | pop3 | pop3s").choices(["imap", "imaps", "pop3", "pop3s"]))
    .option("--host <host>", "mail server host name")
    .option("--port <port>", "port (default per protocol: 143, 993, 110, 995)")
    .option("--user <user>", "user name to sign in with")
    .option("--password <password>", "password (visible in `ps`; prefer --password-stdin)")
    .option("--password-stdin", "read the password from standard input")
    .addOption(new Option("--security <mode>", "tls | starttls | none (imaps/pop3s imply tls; starttls is required when set)").choices(["tls", "starttls", "none"]))
    .option("--tls-verify", "verify the server's TLS certificate (default)")
    .option("--no-tls-verify", "do not verify the server's TLS certificate (this account only)")
    .option("--tls-ca <file>", "trust an extra CA certificate (PEM file), e.g. for a self-signed server")
    .option("--folder <folder>", "IMAP folder to fetch from (default INBOX)")
    .addOption(new Option("--strategy <strategy>", "latest | oldest first").choices(["latest", "oldest"]))
    .option("--limit <n>", "messages to retrieve per run (default 50)")
    .option("--all", "replicate everything: all messages, oldest first, in batches")
    .option("--no-all", "retrieve at most --limit messages per run")
    .option("--batch-size <n>", "messages per stored batch (default 50)")
    .option("--timeout <ms>", "connect and per-command timeout in ms (default 30000)")
    .addOption(new Option("--after <action>", "none | delete | move, after a message is stored").choices(["none", "delete", "move"]))
    .option("--move-to <folder>", "folder to move messages to (with --after move; created if missing)")
    .option("--mark-seen", "mark retrieved messages as seen (IMAP)")
    .option("--no-mark-seen", "leave the seen flag alone")
    .option("--sanitize", "sanitize HTML bodies (default)")
    .option("--no-sanitize", "keep HTML bodies unsanitized (the raw HTML is always kept too)")
    .option("--inline-images", "rewrite cid: images to stored attachments")
    .option("--no-inline-images", "leave cid: references as they are")
    .option("--disabled", "create or set the account disabled")
    .option("--enabled", "enable the account")
    .option("--poll-interval <seconds>", "poll every N seconds under `inbound serve`");
}

function integer(value: unknown, field: string): number {
  const text = String(value);
  if (!/^-?\d+$/.test(text)) {
    throw new InboundError("CONFIG_INVALID", { message: `Invalid account settings: ${field}: must be a whole number, got "${text}"`, details: { fields: [{ field, message: "must be a whole number" }] } });
  }
  return Number(text);
}

/** Read all of standard input (for --password-stdin), without the trailing newline. */
export async function readStdin(stdin: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
}

/**
 * Turn parsed flags into account settings (only those given, so an update
 * changes nothing else). Flag values are validated by the account schema;
 * this only converts types and reads files and stdin.
 */
export async function settingsFromFlags(flags: Record<string, unknown>, stdin: NodeJS.ReadableStream, rawArgs: readonly string[]): Promise<Record<string, unknown>> {
  const given = (flag: string) => rawArgs.some((arg) => arg === flag || arg.startsWith(`${flag}=`));
  const out: Record<string, unknown> = {};
  if (flags.name !== undefined) out.name = flags.name;
  if (flags.protocol !== undefined) out.protocol = flags.protocol;
  if (flags.host !== undefined) out.host = flags.host;
  if (flags.port !== undefined) out.port = integer(flags.port, "port");
  if (flags.user !== undefined) out.username = flags.user;
  if (flags.passwordStdin) out.password = await readStdin(stdin);
  else if (flags.password !== undefined) out.password = flags.password;
  if (flags.security !== undefined) out.security = flags.security;
  if (given("--no-tls-verify")) out.tlsVerify = false;
  else if (given("--tls-verify")) out.tlsVerify = true;
  if (flags.tlsCa !== undefined) {
    try {
      out.tlsCa = readFileSync(String(flags.tlsCa), "utf8");
    } catch (error) {
      throw new InboundError("CONFIG_INVALID", { message: `Invalid account settings: tlsCa: cannot read ${String(flags.tlsCa)} (${(error as Error).message})`, details: { fields: [{ field: "tlsCa", message: "file cannot be read" }] } });
    }
  }
  if (flags.folder !== undefined) out.folder = flags.folder;
  if (flags.strategy !== undefined) out.strategy = flags.strategy;
  if (flags.limit !== undefined) out.limit = integer(flags.limit, "limit");
  if (given("--all")) out.all = true;
  else if (given("--no-all")) out.all = false;
  if (flags.batchSize !== undefined) out.batchSize = integer(flags.batchSize, "batchSize");
  if (flags.timeout !== undefined) out.timeoutMs = integer(flags.timeout, "timeoutMs");
  if (flags.after !== undefined) out.after = flags.after;
  if (flags.moveTo !== undefined) out.moveTo = flags.moveTo;
  if (given("--mark-seen")) out.markSeen = true;
  else if (given("--no-mark-seen")) out.markSeen = false;
  if (given("--no-sanitize")) out.sanitize = false;
  else if (given("--sanitize")) out.sanitize = true;
  if (given("--inline-images")) out.inlineImages = true;
  else if (given("--no-inline-images")) out.inlineImages = false;
  if (given("--disabled")) out.enabled = false;
  else if (given("--enabled")) out.enabled = true;
  if (flags.pollInterval !== undefined) out.pollIntervalSeconds = integer(flags.pollInterval, "pollIntervalSeconds");
  return out;
}
