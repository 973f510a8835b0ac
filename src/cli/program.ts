import { resolve } from "node:path";
import { Command, CommanderError } from "commander";
import { createInbound, type Account, type Inbound } from "../inbound.js";
import { addKeyToFile, loadKeyRing } from "../auth/key-ring.js";
import { createSecretBox } from "../auth/secret-box.js";
import { rotateKeys } from "../store/rotate-keys.js";
import { createLogger } from "../core/logger.js";
import { addAccountFlags, settingsFromFlags } from "./account-flags.js";
import { emit, progressLine, reportError, table, type CliIo } from "./cli-output.js";
import { parseTrustProxy } from "../server/auth/parse-trust-proxy.js";
import { serveCommand } from "./serve-command.js";
import { registerWatchCommands } from "./watch-command.js";
import { registerDeliveryCommands } from "./deliveries-command.js";
import { limitFlag } from "./limit-flag.js";

interface GlobalFlags {
  dataDir?: string;
  json?: boolean;
}

function describeAccount(a: Account): string {
  const where = a.protocol.startsWith("imap") ? `${a.host}:${a.port} ${a.folder}` : `${a.host}:${a.port}`;
  const lines = [
    `${a.name} (${a.protocol}, ${where})`,
    `  user:        ${a.username}`,
    `  security:    ${a.security}${a.tlsVerify ? "" : " (certificate NOT verified)"}${a.tlsCa ? " (extra CA)" : ""}`,
    `  fetch:       ${a.all ? `everything, batches of ${a.batchSize}` : `${a.strategy} ${a.limit} per run, batches of ${a.batchSize}`}`,
    `  after:       ${a.after}${a.after === "move" ? ` → ${a.moveTo}` : ""}${a.markSeen ? ", mark seen" : ""}`,
    `  html:        ${a.sanitize ? "sanitized" : "not sanitized"}${a.inlineImages ? ", inline images" : ""}`,
    `  timeout:     ${a.timeoutMs} ms`,
    `  enabled:     ${a.enabled ? "yes" : "no"}`,
    `  last run:    ${a.lastRunAt ?? "never"}${a.lastError ? ` — failed: ${a.lastError}` : ""}`,
  ];
  return lines.join("\n");
}

/**
 * Build the `inbound` command line. Everything it touches comes in through
 * `io`, so tests can run it in-process.
 *
 * @example
 * ```ts
 * const code = await runCli(["accounts", "list", "--json"], { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env });
 * ```
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let exitCode = 0;
  const program = new Command("inbound")
    .description("Incoming email for TypeScript applications: take mail off IMAP/POP3 mailboxes, store it once, hand it on.")
    .option("--data-dir <dir>", "data directory (also INBOUND_DATA_DIR; default ./data)")
    .option("--json", "machine-readable output")
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .showHelpAfterError();

  const globals = () => program.opts<GlobalFlags>();
  const dataDir = () => resolve(globals().dataDir ?? io.env.INBOUND_DATA_DIR ?? "data");
  const json = () => Boolean(globals().json);

  async function withInbound<T>(work: (inbound: Inbound) => Promise<T>): Promise<T> {
    const logger = createLogger({ level: io.env.INBOUND_LOG_LEVEL ?? "warn", destination: io.stderr });
    const inbound = await createInbound({ dataDir: dataDir(), databaseUrl: io.env.DATABASE_URL || undefined, env: io.env, logger });
    try {
      return await work(inbound);
    } finally {
      await inbound.close();
    }
  }

  const accounts = program.command("accounts").description("manage mail accounts");
  addAccountFlags(accounts.command("add").description("add an account"), false).action(async (flags: Record<string, unknown>) => {
    const input = await settingsFromFlags(flags, io.stdin, argv);
    const account = await withInbound((inbound) => inbound.addAccount(input as never));
    emit(io, json(), account, () => `Added account ${account.name}. Try it with: inbound accounts test ${account.name}`);
  });
  accounts.command("list").description("list accounts").action(async () => {
    const list = await withInbound((inbound) => inbound.listAccounts());
    emit(io, json(), list, () =>
      list.length === 0
        ? "No accounts yet. Add one with: inbound accounts add --name NAME --protocol imaps --host HOST --user USER --password-stdin"
        : table(["NAME", "PROTOCOL", "HOST", "FOLDER", "ENABLED", "LAST RUN"], list.map((a) => [a.name, a.protocol, `${a.host}:${a.port}`, a.protocol.startsWith("imap") ? a.folder : "-", a.enabled ? "yes" : "no", a.lastError ? `failed: ${a.lastError.slice(0, 40)}` : (a.lastRunAt ?? "never")])),
    );
  });
  accounts.command("show <name>").description("show an account's settings (never its password)").action(async (name: string) => {
    const account = await withInbound((inbound) => inbound.getAccount(name));
    emit(io, json(), account, () => describeAccount(account));
  });
  addAccountFlags(accounts.command("update <name>").description("change some settings of an account"), true).action(async (name: string, flags: Record<string, unknown>) => {
    const patch = await settingsFromFlags(flags, io.stdin, argv);
    const account = await withInbound((inbound) => inbound.updateAccount(name, patch));
    emit(io, json(), account, () => `Updated account ${account.name}.\n${describeAccount(account)}`);
  });
  accounts.command("remove <name>").description("remove an account and its stored messages").action(async (name: string) => {
    await withInbound((inbound) => inbound.removeAccount(name));
    emit(io, json(), { removed: name }, () => `Removed account ${name}.`);
  });
  accounts.command("test <name>").description("connect, sign in and look at the mailbox; says what failed").action(async (name: string) => {
    const result = await withInbound((inbound) => inbound.testAccount(name));
    emit(io, json(), result, () => `OK: ${result.summary}`);
  });

  program.command("folders <name>").description("list an IMAP account's folders").action(async (name: string) => {
    const folders = await withInbound((inbound) => inbound.listFolders(name));
    emit(io, json(), folders, () => folders.map((f) => `${f.path}${f.specialUse ? `  (${f.specialUse})` : ""}`).join("\n"));
  });

  program.command("fetch <name>").description("run one retrieval with the account's settings").option("--wait", "wait for a running retrieval of the account instead of failing").action(async (name: string, flags: { wait?: boolean }) => {
    const bar = progressLine(io);
    const summary = await withInbound((inbound) =>
      inbound.fetch(name, {
        wait: flags.wait,
        onProgress: (p) => bar.update(`${name}: ${p.phase} — taken ${p.taken}/${p.total}, processed ${p.processed}`),
      }),
    ).finally(() => bar.done());
    emit(io, json(), summary, () => `Fetched ${summary.fetched}, stored ${summary.stored} new, ${summary.duplicates} already stored, ${summary.parseErrors} parse error(s), ${summary.postActions} after-action(s) in ${summary.durationMs} ms.`);
  });

  const messages = program.command("messages").description("stored messages");
  messages.command("list").description("list stored messages, newest first").option("--account <name>", "only this account").option("--limit <n>", "how many (default 50)").option("--cursor <cursor>", "next page").action(async (flags: { account?: string; limit?: string; cursor?: string }) => {
    const page = await withInbound((inbound) => inbound.listMessages({ account: flags.account, limit: limitFlag(flags.limit), cursor: flags.cursor }));
    emit(io, json(), page, () =>
      page.items.length === 0
        ? "No messages stored."
        : table(["ID", "DATE", "FROM", "SUBJECT", "STATUS"], page.items.map((m) => [m.id, (m.sentDate ?? m.storedAt).slice(0, 19), m.from?.[0]?.address ?? "", (m.subject ?? "").slice(0, 60), m.status])) + (page.nextCursor ? `\nmore: --cursor ${page.nextCursor}` : ""),
    );
  });
  messages.command("show <id>").description("show a stored message").option("--raw", "the original .eml bytes").option("--html", "the (sanitized) HTML body").option("--text", "the text body").action(async (id: string, flags: { raw?: boolean; html?: boolean; text?: boolean }) => {
    await withInbound(async (inbound) => {
      if (flags.raw) {
        const raw = await inbound.rawMessage(id);
        for await (const chunk of raw) io.stdout.write(chunk as Buffer);
        return;
      }
      const message = await inbound.getMessage(id);
      if (flags.html) return void io.stdout.write(`${message.sanitizedHtml ?? message.htmlBody ?? ""}\n`);
      if (flags.text) return void io.stdout.write(`${message.textBody ?? ""}\n`);
      const list = (xs: Array<{ name: string; address: string }> | null) => (xs ?? []).map((x) => (x.name ? `${x.name} <${x.address}>` : x.address)).join(", ");
      emit(io, json(), message, () =>
        [
          `Subject: ${message.subject ?? ""}`,
          `From: ${list(message.from)}`,
          `To: ${list(message.to)}`,
          message.cc?.length ? `Cc: ${list(message.cc)}` : "",
          `Date: ${message.sentDate ?? ""}`,
          `Status: ${message.status}${message.parseError ? ` (${message.parseError})` : ""}`,
          ...message.attachments.map((a) => `Attachment: ${a.filename ?? "(unnamed)"} ${a.contentType} ${a.size} bytes [${a.id}]`),
          "",
          message.textBody ?? "",
        ].filter((l, i) => l !== "" || i > 5).join("\n"),
      );
    });
  });

  program.command("attachments").description("stored attachments").command("save <messageId> <dir>").description("write a message's attachments into DIR").action(async (messageId: string, dir: string) => {
    const paths = await withInbound((inbound) => inbound.saveAttachments(messageId, resolve(dir)));
    emit(io, json(), { saved: paths }, () => (paths.length === 0 ? "The message has no attachments." : paths.join("\n")));
  });

  program.command("keys").description("encryption keys").command("rotate").description("make a new key active and re-encrypt every stored secret with it").action(async () => {
    if (io.env.INBOUND_ENCRYPTION_KEY) {
      // With the key in the environment, rotation means: set the new key there and the old one in INBOUND_ENCRYPTION_KEYS_OLD, then run this.
      const result = await withInbound(async (inbound) => {
        const ring = await loadKeyRing({ env: io.env, dataDir: dataDir(), log: () => undefined });
        return rotateKeys({ db: inbound.store.database.db, box: createSecretBox(ring) });
      });
      emit(io, json(), result, () => `Re-encrypted ${result.resealed} secret(s) under the key in INBOUND_ENCRYPTION_KEY; ${result.unchanged} already were.`);
      return;
    }
    const result = await withInbound(async (inbound) => {
      const ring = await addKeyToFile({ dataDir: dataDir() });
      return rotateKeys({ db: inbound.store.database.db, box: createSecretBox(ring) });
    });
    emit(io, json(), result, () => `New key active; re-encrypted ${result.resealed} secret(s).`);
  });

  registerWatchCommands(program, { io, dataDir, json, withInbound });
  registerDeliveryCommands(program, { io, dataDir, json, withInbound });
  // `serve --trust-proxy` is the flag form of INBOUND_TRUST_PROXY: the service reads the environment it is handed, so the flag writes there.
  const serveEnv: Record<string, string | undefined> = { ...io.env };
  serveCommand(program, { io: { ...io, env: serveEnv }, dataDir, onExit: (code) => (exitCode = code) });
  program.commands
    .find((command) => command.name() === "serve")
    ?.option("--trust-proxy <proxies>", "proxies whose X-Forwarded-For/-Proto to believe: addresses or CIDR ranges separated by commas, loopback, true or false (also INBOUND_TRUST_PROXY; default false)")
    .hook("preAction", (command) => {
      const value = command.opts<{ trustProxy?: string }>().trustProxy;
      if (value === undefined) return;
      parseTrustProxy(value, "--trust-proxy");
      serveEnv.INBOUND_TRUST_PROXY = value;
    });

  try {
    await program.parseAsync([...argv], { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    return reportError(io, argv.includes("--json"), error);
  }
  return exitCode;
}
