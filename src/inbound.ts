import { createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { basename, join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parseAccountSettings, updateAccountSettings, isImapProtocol, type AccountInput, type AccountSettings } from "./core/account-settings.js";
import { InboundError } from "./core/inbound-error.js";
import { silentLogger, type Logger } from "./core/logger.js";
import { loadKeyRing } from "./auth/key-ring.js";
import { createSecretBox, type SecretBox } from "./auth/secret-box.js";
import { inlineImageUrlFromTemplate } from "./mime/finish-parse.js";
import { createParsePool, type ParsePool } from "./mime/parse-pool.js";
import { openImapSession, type ImapFolder } from "./protocols/imap/imap-session.js";
import { connectPop3 } from "./protocols/pop3/pop3-client.js";
import { accountConnection } from "./retrieval/account-connection.js";
import { createMessageProcessor, type MessageProcessor } from "./retrieval/message-processor.js";
import { retrieveAccount, type RetrievalSummary, type RetrieveOptions } from "./retrieval/retrieve-account.js";
import { createLeaseRunLock, type RunLock } from "./retrieval/run-lock.js";
import { createDeliveryService, type DeliveryService, type DeliveryServiceOptions, type EventHandler, type MessageHandler } from "./delivery/delivery-service.js";
import type { HandlerOptions, Unsubscribe } from "./delivery/delivery-event.js";
import { accountCredentials } from "./watch/account-credentials.js";
import { createWatchManager, type SubscribeResult, type WatchManager } from "./watch/watch-manager.js";
import type { WatchTiming } from "./watch/watch-timing.js";
import type { AccountRecord } from "./store/account-repository.js";
import type { AttachmentRecord, ListMessagesOptions, MessagePage, MessageRecord } from "./store/message-repository.js";
import { createStore, type Store } from "./store/store.js";
import { withoutBidiControls } from "./core/bidi-controls.js";

/** Options for {@link createInbound}. */
export interface InboundOptions {
  /** Holds the SQLite database, blobs and (without INBOUND_ENCRYPTION_KEY) the key file. */
  dataDir: string;
  /** `postgres://...` selects PostgreSQL; absent means SQLite in `dataDir`. */
  databaseUrl?: string;
  /** Environment to read INBOUND_ENCRYPTION_KEY from; default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  logger?: Logger;
  /** Parser worker threads; default one per core. */
  parseWorkers?: number;
  /** URL template for inline images, `{id}` is the attachment id. */
  inlineImageUrlTemplate?: string;
  /** Delivery settings: public URL for webhook attachment links, retry policies, polling. */
  delivery?: Omit<DeliveryServiceOptions, "store" | "box" | "log">;
  /** Watch timings (backoff, safety poll, ...); production defaults otherwise. */
  watchTiming?: Partial<WatchTiming>;
}

/** An account as shown to users: every setting except the password. */
export type Account = AccountRecord;

/** Result of {@link Inbound.testAccount}: what worked, in plain words. */
export interface AccountTestResult {
  ok: true;
  protocol: AccountSettings["protocol"];
  /** IMAP: the folders on the server. */
  folders?: string[];
  /** Messages in the account's folder (IMAP) or maildrop (POP3). */
  messages: number;
  summary: string;
}

/**
 * Inbound as a library: accounts, retrieval, stored messages. Starts nothing
 * until {@link createInbound} is called; `close()` releases the database and
 * parser threads.
 *
 * @example
 * ```ts
 * const inbound = await createInbound({ dataDir: "./data" });
 * try {
 *   await inbound.addAccount({ name: "support", protocol: "imaps", host: "mail.example.com", username: "support", password: "..." });
 *   const summary = await inbound.fetch("support");
 * } finally {
 *   await inbound.close();
 * }
 * ```
 */
export interface Inbound {
  readonly store: Store;
  addAccount(input: AccountInput): Promise<Account>;
  listAccounts(): Promise<Account[]>;
  getAccount(nameOrId: string): Promise<Account>;
  /** Change some settings; the result is validated as a whole. A `password` in the patch replaces the stored one. */
  updateAccount(nameOrId: string, patch: Record<string, unknown>): Promise<Account>;
  removeAccount(nameOrId: string): Promise<void>;
  /** Connect, authenticate, list folders / count messages. Throws the catalogued error on failure. */
  testAccount(nameOrId: string, options?: { signal?: AbortSignal }): Promise<AccountTestResult>;
  listFolders(nameOrId: string): Promise<ImapFolder[]>;
  fetch(nameOrId: string, options?: RetrieveOptions): Promise<RetrievalSummary>;
  listMessages(options?: ListMessagesOptions & { account?: string }): Promise<MessagePage>;
  getMessage(id: string): Promise<MessageRecord & { attachments: AttachmentRecord[] }>;
  rawMessage(id: string): Promise<Readable>;
  attachmentContent(id: string): Promise<{ attachment: AttachmentRecord; content: Readable }>;
  /** Write a message's attachments into `dir`; returns the file paths. */
  saveAttachments(messageId: string, dir: string): Promise<string[]>;
  /** Parse messages left pending by an interrupted run. */
  processPending(): Promise<{ parsed: number; parseErrors: number }>;
  /**
   * Handle every stored message, at least once, in stored order per account.
   * A handler that throws is retried with backoff, then parked (see `delivery.listDeliveries`).
   * Registering a handler starts delivery. Give it a stable `name` to resume where it left off after a restart.
   */
  onMessage(handler: MessageHandler, options?: HandlerOptions): Unsubscribe;
  /** Handle events of one type (`message.received`, `account.state_changed`, `retrieval.completed`, ... or `*`). */
  on(eventType: string, handler: EventHandler, options?: HandlerOptions): Unsubscribe;
  /** Watch an account's mailbox (IMAP IDLE, or polling), persisted; idempotent. */
  subscribe(nameOrId: string): Promise<SubscribeResult>;
  /** Stop watching an account; a no-op when it is not subscribed. */
  unsubscribe(nameOrId: string): Promise<{ accountId: string; removed: boolean }>;
  /** Webhooks and deliveries (list, replay). Nothing runs until {@link start} or a handler is registered. */
  readonly delivery: DeliveryService;
  /** Per-account watches and poll schedules. */
  readonly watches: WatchManager;
  /** What `inbound serve` runs: delivery workers, every persisted subscription and every poll schedule. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/**
 * What makes `next` point at another mailbox than `current` (a new host,
 * user, or protocol family, as words for the event), or null when it is the
 * same one. Port and security reach the same mailbox; a folder change needs
 * nothing, since IMAP identities carry their folder.
 */
function mailboxChange(current: Pick<Account, "host" | "username" | "protocol">, next: Pick<Account, "host" | "username" | "protocol">): string | null {
  const changes: string[] = [];
  if (current.host.toLowerCase() !== next.host.toLowerCase()) changes.push(`host ${current.host} → ${next.host}`);
  if (current.username !== next.username) changes.push(`user ${current.username} → ${next.username}`);
  if (isImapProtocol(current.protocol) !== isImapProtocol(next.protocol)) changes.push(`protocol ${current.protocol} → ${next.protocol}`);
  return changes.length === 0 ? null : changes.join(", ");
}

/** Create an {@link Inbound}: opens (and migrates) the store and loads the encryption keys. */
export async function createInbound(options: InboundOptions): Promise<Inbound> {
  const log = options.logger ?? silentLogger();
  const env = options.env ?? process.env;
  const ring = await loadKeyRing({ env, dataDir: options.dataDir, log: (message) => log.warn(message) });
  const box: SecretBox = createSecretBox(ring);
  const store = await createStore({ databaseUrl: options.databaseUrl, dataDir: options.dataDir });
  const delivery = createDeliveryService({ ...options.delivery, store, box, log });
  let pool: ParsePool | undefined;
  const parsePool = () => (pool ??= createParsePool({ size: options.parseWorkers }));
  const processor: MessageProcessor = createMessageProcessor({
    store,
    parse: (source, settings) =>
      parsePool().parse(source, { blobDir: store.blobs.dir, sanitize: settings.sanitize, inlineImages: settings.inlineImages, inlineImageUrlTemplate: options.inlineImageUrlTemplate }),
    // Enough in flight that every worker has its two parses running and one more waiting.
    concurrency: Math.max(2, (options.parseWorkers ?? availableParallelism()) * 3),
    // New message.received events are in the outbox: hand them on now, not at the next poll.
    onSaved: () => delivery.notify(),
    inlineImageUrl: options.inlineImageUrlTemplate === undefined ? undefined : inlineImageUrlFromTemplate(options.inlineImageUrlTemplate),
  });
  const lock: RunLock = createLeaseRunLock({ leases: store.leases });

  const password = async (account: Account) => box.open(await store.accounts.getPasswordCiphertext(account.id));
  const watches = createWatchManager({
    store,
    logger: log,
    timing: options.watchTiming,
    credentials: accountCredentials(store, box),
    retrieve: async (accountId, signal) => {
      const account = await store.accounts.get(accountId);
      return retrieveAccount({ store, processor, lock }, account, await password(account), { signal, wait: true });
    },
  });
  let deliveryStarted: Promise<void> | undefined;
  const startDelivery = () => (deliveryStarted ??= delivery.start());

  const inbound: Inbound = {
    store,
    async addAccount(input) {
      const settings = parseAccountSettings(input);
      const { password: secret, ...rest } = settings;
      return store.accounts.create(rest, box.seal(secret));
    },
    listAccounts: () => store.accounts.list(),
    getAccount: (nameOrId) => store.accounts.get(nameOrId),
    async updateAccount(nameOrId, patch) {
      const current = await store.accounts.get(nameOrId);
      const secret = typeof patch.password === "string" ? patch.password : await password(current);
      const { id: _id, state: _s, stateDetail: _sd, lastRunAt: _l, lastError: _le, createdAt: _c, updatedAt: _u, ...settings } = current;
      const next = updateAccountSettings({ ...settings, password: secret }, patch);
      const { password: newSecret, ...rest } = next;
      const sealed = "password" in patch ? box.seal(newSecret) : undefined;
      const moved = mailboxChange(current, next);
      if (moved === null) return store.accounts.update(current.id, rest, sealed);
      // Another mailbox: its UIDs and UIDLs name other messages than the stored ones. Retire the
      // ledger's keys (and the IMAP checkpoints) with the settings, so that none of its messages is
      // taken for stored; the next run matches them to stored ones by Message-ID, size and date.
      // After a running retrieval, which would go on recording the old mailbox's identities.
      const release = await lock.acquire(current.id, { wait: true });
      try {
        return await store.transaction(async (trx) => {
          const updated = await store.accounts.update(current.id, rest, sealed, trx);
          const retired = await store.messages.retireSources(trx, current.id);
          await store.checkpoints.forgetAll(trx, current.id);
          await store.events.append(trx, {
            accountId: current.id,
            type: "account.mailbox_changed",
            level: "info",
            message:
              `The account now points at another mailbox (${moved}). The ${retired} message identities of the old one were set aside; ` +
              "the next run matches the messages it finds to stored ones by Message-ID, size and date, and fetches the rest.",
            data: { changed: moved, retired },
          });
          return updated;
        });
      } finally {
        await release();
      }
    },
    async removeAccount(nameOrId) {
      const account = await store.accounts.get(nameOrId);
      await store.accounts.remove(account.id);
    },
    async testAccount(nameOrId, testOptions = {}) {
      const account = await store.accounts.get(nameOrId);
      const secret = await password(account);
      const common = accountConnection(account, secret, testOptions.signal);
      if (isImapProtocol(account.protocol)) {
        const session = await openImapSession(common);
        try {
          const folders = (await session.listFolders()).map((f) => f.path);
          const status = await session.select(account.folder);
          return { ok: true, protocol: account.protocol, folders, messages: status.exists, summary: `Signed in to ${account.host}:${account.port} as ${account.username}; ${folders.length} folder(s); "${account.folder}" holds ${status.exists} message(s).` };
        } finally {
          await session.close();
        }
      }
      const client = await connectPop3(common);
      try {
        const stat = await client.stat();
        await client.uidl();
        await client.quit();
        return { ok: true, protocol: account.protocol, messages: stat.count, summary: `Signed in to ${account.host}:${account.port} as ${account.username}; the maildrop holds ${stat.count} message(s); UIDL is supported.` };
      } catch (error) {
        client.close();
        throw error;
      }
    },
    async listFolders(nameOrId) {
      const account = await store.accounts.get(nameOrId);
      if (!isImapProtocol(account.protocol)) {
        throw new InboundError("CONFIG_INVALID", { message: `The account "${account.name}" uses POP3, which has no folders.`, details: { fields: [{ field: "protocol", message: "folders need IMAP" }] } });
      }
      const session = await openImapSession(accountConnection(account, await password(account)));
      try {
        return await session.listFolders();
      } finally {
        await session.close();
      }
    },
    async fetch(nameOrId, fetchOptions) {
      const account = await store.accounts.get(nameOrId);
      return retrieveAccount({ store, processor, lock }, account, await password(account), fetchOptions);
    },
    async listMessages(listOptions = {}) {
      const { account, ...rest } = listOptions;
      const accountId = account ? (await store.accounts.get(account)).id : rest.accountId;
      return store.messages.list({ ...rest, accountId });
    },
    async getMessage(id) {
      const message = await store.messages.get(id);
      return { ...message, attachments: await store.messages.attachments(id) };
    },
    async rawMessage(id) {
      return store.openRaw(await store.messages.rawLocation(id));
    },
    async attachmentContent(id) {
      const attachment = await store.messages.getAttachment(id);
      return { attachment, content: store.blobs.createReadStream(attachment.sha256) };
    },
    async saveAttachments(messageId, dir) {
      await store.messages.get(messageId);
      const attachments = await store.messages.attachments(messageId);
      await mkdir(dir, { recursive: true });
      const used = new Set<string>();
      const paths: string[] = [];
      for (const attachment of attachments) {
        const name = uniqueName(safeFileName(attachment.filename ?? `attachment-${attachment.position + 1}`), used);
        const target = join(dir, name);
        await pipeline(store.blobs.createReadStream(attachment.sha256), createWriteStream(target, { flags: "wx" }));
        paths.push(target);
      }
      return paths;
    },
    async processPending() {
      return processor.processPending((id) => store.accounts.get(id));
    },
    onMessage(handler, handlerOptions) {
      const off = delivery.onMessage(handler, handlerOptions);
      void startDelivery();
      return off;
    },
    on(eventType, handler, handlerOptions) {
      const off = delivery.on(eventType, handler, handlerOptions);
      void startDelivery();
      return off;
    },
    subscribe: (nameOrId) => watches.subscribe(nameOrId),
    unsubscribe: (nameOrId) => watches.unsubscribe(nameOrId),
    delivery,
    watches,
    async start() {
      await startDelivery();
      await watches.resumeAll();
    },
    async close() {
      // Order: stop taking mail, then let deliveries in hand finish, then release parsers and the store.
      await watches.close();
      await delivery.close();
      await pool?.close();
      await store.close();
    },
  };
  return inbound;
}

/** A file name that cannot escape the target directory or hide as a dotfile. */
function safeFileName(name: string): string {
  const cleaned = basename(withoutBidiControls(name).replace(/[\\/]/g, "_")).replace(/[\x00-\x1f<>:"|?*]/g, "_").replace(/^\.+/, "_").trim();
  return cleaned.length > 0 ? cleaned.slice(0, 200) : "attachment";
}

function uniqueName(name: string, used: Set<string>): string {
  let candidate = name;
  for (let n = 2; used.has(candidate); n++) {
    const dot = name.lastIndexOf(".");
    candidate = dot > 0 ? `${name.slice(0, dot)} (${n})${name.slice(dot)}` : `${name} (${n})`;
  }
  used.add(candidate);
  return candidate;
}
