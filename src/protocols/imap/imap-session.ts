import { Transform, type Readable } from "node:stream";
import { ImapFlow, type FetchMessageObject } from "imapflow";
import { InboundError } from "../../core/inbound-error.js";
import { withDeadline } from "../../core/with-deadline.js";
import type { ServerConnectionOptions } from "../server-connection-options.js";
import { imapFlowOptions } from "./imap-client-options.js";
import { classifyImapError } from "./imap-error.js";

/** How to reach and sign in to an IMAP server. */
export type ImapSessionOptions = ServerConnectionOptions;

/** A folder on the server. */
export interface ImapFolder {
  path: string;
  name: string;
  delimiter: string;
  specialUse: string | null;
  subscribed: boolean;
}

/** The selected folder's identity and size. */
export interface ImapFolderStatus {
  folder: string;
  /** UIDVALIDITY as a decimal string (it is a 32-bit unsigned number; strings avoid bigint in JSON). */
  uidValidity: string;
  exists: number;
  uidNext: number;
}

/** What the server says about one message before its bytes are fetched. */
export interface ImapMessageMeta {
  uid: number;
  size: number;
  internalDate: Date | null;
  flags: string[];
  messageId: string | null;
  date: Date | null;
}

/** Messages at or below this size are fetched in one pipelined FETCH; larger ones stream in chunks. */
const INLINE_FETCH_LIMIT = 4 * 1024 * 1024;
const DOWNLOAD_CHUNK = 1024 * 1024;
/** Bytes of inline-fetched messages asked for by one UID FETCH (see fetchRaw). */
const INLINE_FETCH_BYTES = 8 * 1024 * 1024;
/** Messages at or below this size are planned as this size, without asking theirs (see sizeBounds). */
const SMALL_MESSAGE_BOUND = 256 * 1024;

/** UIDs in order, cut into runs whose sizes add up to at most `limit` (each run holds at least one). */
export function sizeGroups(metas: ReadonlyArray<{ uid: number; size: number }>, limit: number): number[][] {
  const groups: number[][] = [];
  let current: number[] = [];
  let bytes = 0;
  for (const meta of [...metas].sort((a, b) => a.uid - b.uid)) {
    if (current.length > 0 && bytes + meta.size > limit) {
      groups.push(current);
      current = [];
      bytes = 0;
    }
    current.push(meta.uid);
    bytes += meta.size;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

function toDate(value: unknown): Date | null {
  if (value instanceof Date && !Number.isNaN(value.getTime())) return value;
  if (typeof value === "string") {
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? null : date;
  }
  return null;
}

/** Compress sorted UIDs into an IMAP sequence set ("1:5,7,9:12"). */
export function uidSet(uids: readonly number[]): string {
  const sorted = [...uids].sort((a, b) => a - b);
  const parts: string[] = [];
  let start = sorted[0];
  let prev = sorted[0];
  for (let i = 1; i <= sorted.length; i++) {
    const uid = sorted[i];
    if (uid === prev + 1) {
      prev = uid;
      continue;
    }
    parts.push(start === prev ? String(start) : `${start}:${prev}`);
    start = uid;
    prev = uid;
  }
  return parts.join(",");
}

/**
 * One IMAP connection, wrapped so that every command has a timeout, failures
 * become catalogued errors, and a dropped connection is replaced by a new
 * client (re-selecting the folder) before the next command. No command is
 * issued inside a FETCH loop: large messages are streamed after it ends.
 *
 * @example
 * ```ts
 * const session = await openImapSession({ host, port: 993, security: "tls", tlsVerify: true, username, password, timeoutMs: 30000 });
 * try {
 *   const status = await session.select("INBOX");
 *   const uids = await session.searchAll();
 * } finally {
 *   await session.close();
 * }
 * ```
 */
export class ImapSession {
  private client: ImapFlow | undefined;
  private selected: string | undefined;
  /** UIDVALIDITY of the selected folder when it was selected: a reconnect must find the same. */
  private selectedValidity: string | undefined;
  private closed = false;

  private constructor(private readonly options: ImapSessionOptions) {}

  /** Connect and authenticate; throws a catalogued error on failure. */
  static async open(options: ImapSessionOptions): Promise<ImapSession> {
    const session = new ImapSession(options);
    await session.connect();
    return session;
  }

  private async connect(): Promise<ImapFlow> {
    this.throwIfAborted();
    const client = new ImapFlow(imapFlowOptions(this.options));
    // A dropped socket emits 'error'; the session notices through `usable` and reconnects.
    client.on("error", () => undefined);
    try {
      await this.withTimeout("connect", client.connect(), client);
    } catch (error) {
      client.close();
      throw this.classify(error, "connect");
    }
    this.client = client;
    this.selected = undefined;
    this.selectedValidity = undefined;
    return client;
  }

  private throwIfAborted(): void {
    if (this.options.signal?.aborted) throw new InboundError("ABORTED", { message: "The IMAP session was cancelled." });
    if (this.closed) throw new InboundError("CONNECTION_CLOSED", { message: "The IMAP session is closed." });
  }

  private classify(error: unknown, command: string): InboundError {
    return classifyImapError(error, { host: this.options.host, port: this.options.port, username: this.options.username, folder: this.selected }, command);
  }

  private withTimeout<T>(command: string, work: Promise<T>, client: ImapFlow | undefined = this.client): Promise<T> {
    const { timeoutMs, signal, host, port } = this.options;
    return withDeadline(work, {
      ms: timeoutMs,
      signal,
      what: command,
      onGiveUp: () => client?.close(),
      onTimeout: () =>
        new InboundError("CONNECTION_TIMEOUT", {
          message: `${host}:${port} did not finish ${command} within ${timeoutMs} ms; check the server or raise the account's timeout.`,
          retryable: true,
          details: { command, timeoutMs },
        }),
    });
  }

  /** A usable client, reconnecting (and re-selecting) when the old one died. */
  private async ready(): Promise<ImapFlow> {
    this.throwIfAborted();
    if (this.client?.usable) return this.client;
    const folder = this.selected;
    const validity = this.selectedValidity;
    const client = await this.connect();
    if (folder !== undefined) {
      const mailbox = await this.withTimeout("SELECT", client.mailboxOpen(folder)).catch((error) => {
        throw this.classify(error, "SELECT");
      });
      if (validity !== undefined && String(mailbox.uidValidity) !== validity) {
        // Every UID the caller holds now names another message (or none): a UID STORE, EXPUNGE or
        // MOVE would act on mail that was never stored. Stop; the next run resynchronises.
        client.close();
        this.client = undefined;
        throw new InboundError("IMAP_UIDVALIDITY_CHANGED", {
          message: `The UIDVALIDITY of "${folder}" on ${this.options.host} changed from ${validity} to ${String(mailbox.uidValidity)} while reconnecting; nothing more was done in this run, and the next run matches the folder's messages again.`,
          retryable: true,
          details: { folder, uidValidity: validity, newUidValidity: String(mailbox.uidValidity) },
        });
      }
      this.selected = folder;
      this.selectedValidity = validity;
    }
    return client;
  }

  /**
   * Run one command with the timeout; on a dropped connection reconnect once
   * and try again (every command used here is idempotent by UID).
   */
  private async run<T>(command: string, fn: (client: ImapFlow) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const client = await this.ready();
      try {
        return await this.withTimeout(command, fn(client));
      } catch (error) {
        const classified = this.classify(error, command);
        if (attempt === 0 && classified.code === "CONNECTION_CLOSED" && !this.options.signal?.aborted && !this.closed) continue;
        throw classified;
      }
    }
  }

  /** Every folder on the server. */
  async listFolders(): Promise<ImapFolder[]> {
    const list = await this.run("LIST", (c) => c.list());
    return list.map((entry) => ({
      path: entry.path,
      name: entry.name,
      delimiter: entry.delimiter,
      specialUse: entry.specialUse ?? null,
      subscribed: Boolean(entry.subscribed),
    }));
  }

  /** Select a folder (read-write). Missing folder → IMAP_FOLDER_NOT_FOUND. */
  async select(folder: string): Promise<ImapFolderStatus> {
    const mailbox = await this.run("SELECT", async (c) => {
      try {
        return await c.mailboxOpen(folder);
      } catch (error) {
        const e = error as { responseText?: string; serverResponseCode?: string };
        if (e.serverResponseCode === "NONEXISTENT" || /exist/i.test(e.responseText ?? "")) {
          throw new InboundError("IMAP_FOLDER_NOT_FOUND", {
            message: `The folder "${folder}" does not exist on ${this.options.host}; list folders with \`inbound folders NAME\`.`,
            cause: error,
            details: { folder },
          });
        }
        throw error;
      }
    });
    this.selected = folder;
    this.selectedValidity = String(mailbox.uidValidity);
    return { folder, uidValidity: this.selectedValidity, exists: mailbox.exists, uidNext: mailbox.uidNext };
  }

  /** Every UID in the selected folder, ascending. */
  async searchAll(): Promise<number[]> {
    const uids = await this.run("UID SEARCH", (c) => c.search({ all: true }, { uid: true }));
    if (!Array.isArray(uids)) return [];
    return uids.sort((a, b) => a - b);
  }

  /**
   * Size, dates, flags and Message-ID of the given UIDs, without their bodies.
   * With `envelope: false`, no Message-ID or Date (cheaper for the server).
   */
  async fetchMeta(uids: readonly number[], options: { envelope?: boolean } = {}): Promise<ImapMessageMeta[]> {
    if (uids.length === 0) return [];
    const envelope = options.envelope ?? true;
    return this.run("UID FETCH", async (c) => {
      const out: ImapMessageMeta[] = [];
      for await (const message of c.fetch(uidSet(uids), { uid: true, size: true, internalDate: true, flags: true, envelope }, { uid: true })) {
        out.push(this.meta(message));
      }
      return out;
    });
  }

  private meta(message: FetchMessageObject): ImapMessageMeta {
    return {
      uid: message.uid,
      size: message.size ?? 0,
      internalDate: toDate(message.internalDate),
      flags: message.flags ? [...message.flags] : [],
      messageId: message.envelope?.messageId ?? null,
      date: toDate(message.envelope?.date),
    };
  }

  /** RFC822.SIZE of each of `uids`, in one command. */
  async fetchSizes(uids: readonly number[]): Promise<Map<number, number>> {
    if (uids.length === 0) return new Map();
    return this.run("UID FETCH RFC822.SIZE", async (c) => {
      const sizes = new Map<number, number>();
      for await (const message of c.fetch(uidSet(uids), { uid: true, size: true }, { uid: true })) sizes.set(message.uid, message.size ?? 0);
      return sizes;
    });
  }

  /**
   * An upper bound of each message's size, enough to plan FETCH commands (see
   * {@link fetchRaw}): the exact size of messages over 256 KB, and 256 KB for
   * the rest. The server picks the large ones with one `UID SEARCH LARGER`, so
   * only they cost a FETCH line each (parsing one costs ~0.1 ms here; the server
   * answers 2,000 in 9 ms).
   */
  async sizeBounds(uids: readonly number[]): Promise<Map<number, number>> {
    const bounds = new Map<number, number>();
    if (uids.length === 0) return bounds;
    const large = await this.run("UID SEARCH LARGER", (c) => c.search({ uid: uidSet(uids), larger: SMALL_MESSAGE_BOUND }, { uid: true }));
    for (const uid of uids) bounds.set(uid, SMALL_MESSAGE_BOUND);
    if (Array.isArray(large) && large.length > 0) {
      for (const [uid, size] of await this.fetchSizes(large)) bounds.set(uid, size);
    }
    return bounds;
  }

  /**
   * Fetch the raw bytes of `uids` in ascending order, handing each to
   * `onMessage` as a stream. Messages up to 4 MB come in pipelined FETCHes of at most 8 MB each,
   * their flags and internal date in the same command; larger ones are streamed in 1 MB partial
   * fetches after it, so memory stays flat whatever the message size. `meta` has size, internal
   * date and flags; its `messageId` and `date` are `null` (read them from the message itself).
   * Pass `sizes` (exact, or bounds from {@link sizeBounds} for a whole plan) to save the round
   * trips that would ask for them here.
   */
  async fetchRaw(uids: readonly number[], onMessage: (meta: ImapMessageMeta, body: Readable | Buffer) => Promise<void>, sizes?: ReadonlyMap<number, number>): Promise<void> {
    if (uids.length === 0) return;
    const known = sizes !== undefined && uids.every((uid) => sizes.has(uid)) ? sizes : await this.sizeBounds(uids);
    const present = uids.map((uid) => ({ uid, size: known.get(uid) as number }));
    // imapflow reads a FETCH's replies as fast as the server sends them, whatever the
    // consumer does, so one command per ≤ 8 MB of messages bounds what waits in memory
    // while the callback writes to disk (a batch of 100 × 4 MB would otherwise be 400 MB).
    for (const group of sizeGroups(present.filter((m) => m.size <= INLINE_FETCH_LIMIT), INLINE_FETCH_BYTES)) {
      // The callback only writes to disk: no IMAP command is issued inside this loop.
      await this.runStreaming("UID FETCH BODY.PEEK[]", async (c, touch) => {
        for await (const message of c.fetch(uidSet(group), { uid: true, flags: true, internalDate: true, source: true }, { uid: true })) {
          touch();
          if (!message.source) continue;
          // Message-ID and Date come from the message's own header (see header-sniffer): no ENVELOPE needed.
          await onMessage({ ...this.meta(message), size: message.source.length }, message.source);
          touch();
        }
      });
    }
    const large = present.filter((m) => m.size > INLINE_FETCH_LIMIT);
    for (const meta of await this.fetchMeta(large.map((m) => m.uid), { envelope: false })) {
      await this.runStreaming("UID FETCH BODY.PEEK[] (partial)", async (c, touch) => {
        const download = await c.download(String(meta.uid), undefined, { uid: true, chunkSize: DOWNLOAD_CHUNK });
        if (!download.content) return;
        // Count bytes as they pass rather than with a 'data' listener, which would start
        // the stream flowing before onMessage reads it and drop the first chunks.
        let received = 0;
        const counted = download.content.pipe(new Transform({ transform(chunk: Buffer, _encoding, done) { touch(); received += chunk.length; done(null, chunk); } }));
        download.content.once("error", (error) => counted.destroy(error));
        await onMessage(meta, counted);
        // imapflow ends a partial download quietly when a chunk comes back without a body: a
        // message cut short would be stored (and deleted on the server) as if whole.
        if (received !== meta.size) throw incomplete(this.options.host, meta.uid, meta.size, received);
      });
    }
  }

  /**
   * Like run(), but the timeout is for inactivity: long transfers are fine as
   * long as bytes keep arriving (`touch` resets the clock).
   */
  private async runStreaming(command: string, fn: (client: ImapFlow, touch: () => void) => Promise<void>): Promise<void> {
    const client = await this.ready();
    const { timeoutMs } = this.options;
    let last = Date.now();
    const touch = () => {
      last = Date.now();
    };
    let timer: NodeJS.Timeout | undefined;
    const guard = new Promise<never>((_, reject) => {
      const check = () => {
        if (Date.now() - last >= timeoutMs) {
          client.close();
          reject(new InboundError("CONNECTION_TIMEOUT", {
            message: `${this.options.host}:${this.options.port} sent nothing for ${timeoutMs} ms during ${command}; check the server or raise the account's timeout.`,
            retryable: true,
            details: { command, timeoutMs },
          }));
          return;
        }
        timer = setTimeout(check, Math.max(50, timeoutMs - (Date.now() - last)));
      };
      timer = setTimeout(check, timeoutMs);
    });
    const work = fn(client, touch);
    try {
      await Promise.race([work, guard]);
    } catch (error) {
      throw this.classify(error, command);
    } finally {
      clearTimeout(timer);
      work.catch(() => undefined);
    }
  }

  /** Add flags (e.g. `\Seen`) to the given UIDs. */
  async addFlags(uids: readonly number[], flags: string[]): Promise<void> {
    if (uids.length === 0) return;
    await this.run("UID STORE", async (c) => {
      const ok = await c.messageFlagsAdd(uidSet(uids), flags, { uid: true });
      if (!ok) throw await refused(c, "The server refused to set flags.", { command: "UID STORE" });
    });
  }

  /** Delete and expunge the given UIDs (UID EXPUNGE when the server has UIDPLUS). */
  async deleteMessages(uids: readonly number[]): Promise<void> {
    if (uids.length === 0) return;
    await this.run("UID STORE \\Deleted + EXPUNGE", async (c) => {
      const ok = await c.messageDelete(uidSet(uids), { uid: true });
      if (!ok) throw await refused(c, "The server refused to delete the messages.", { command: "EXPUNGE" });
    });
  }

  /** Move the given UIDs to `folder`, creating it when it does not exist. */
  async moveMessages(uids: readonly number[], folder: string): Promise<void> {
    if (uids.length === 0) return;
    await this.ensureFolder(folder);
    await this.run("UID MOVE", async (c) => {
      const result = await c.messageMove(uidSet(uids), folder, { uid: true });
      if (!result) throw await refused(c, `The server refused to move messages to "${folder}".`, { command: "UID MOVE", folder });
    });
  }

  /** Create `folder` unless it exists. */
  async ensureFolder(folder: string): Promise<void> {
    const folders = await this.listFolders();
    if (folders.some((f) => f.path === folder)) return;
    await this.run("CREATE", (c) => c.mailboxCreate(folder));
  }

  /** Log out politely; falls back to closing the socket. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    if (client.usable) {
      await Promise.race([client.logout().catch(() => undefined), new Promise((r) => setTimeout(r, 2_000).unref())]);
    }
    client.close();
  }
}

/** Open an authenticated IMAP session. See {@link ImapSession}. */
export function openImapSession(options: ImapSessionOptions): Promise<ImapSession> {
  return ImapSession.open(options);
}

/**
 * imapflow answers `false` for a STORE, EXPUNGE or MOVE that failed for any
 * reason, a dropped connection included. A dead client means the command may
 * not have reached the server: CONNECTION_CLOSED, which the session retries
 * once on a new connection (these commands are idempotent by UID). Otherwise
 * the server said no.
 */
async function refused(client: ImapFlow, message: string, details: Record<string, unknown>): Promise<InboundError> {
  // A dropped socket fails the command before its 'close' has been handled: let that run first.
  await new Promise((resolve) => setImmediate(resolve));
  if (!client.usable) return new InboundError("CONNECTION_CLOSED", { message: `The connection closed during ${String(details.command)}.`, retryable: true, details });
  return new InboundError("IMAP_COMMAND_FAILED", { message, details });
}

function incomplete(host: string, uid: number, announced: number, received: number): InboundError {
  return new InboundError("IMAP_MESSAGE_INCOMPLETE", {
    message:
      `${host} announced ${announced} bytes for UID ${uid} (RFC822.SIZE) but sent ${received}; nothing of its batch was stored or removed from the server, and the next run fetches it again. ` +
      "If this repeats for the same message, the server reports a wrong size for it: ask its administrator to rebuild the mailbox index.",
    retryable: true,
    details: { uid, announced, received },
  });
}
