import type { EventEmitter } from "node:events";
import { Transform, type Readable } from "node:stream";
import { ImapFlow, type FetchMessageObject } from "imapflow";
import { InboundError, isInboundError } from "../../core/inbound-error.js";
import { withDeadline } from "../../core/with-deadline.js";
import type { ServerConnectionOptions } from "../server-connection-options.js";
import { imapFlowOptions } from "./imap-client-options.js";
import { classifyImapError } from "./imap-error.js";
import { uidSets } from "./uid-set.js";

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

/**
 * A message whose bytes differ from the size the server announced for it
 * (RFC822.SIZE). It was taken whole all the same: the server itself said
 * where it ends (see {@link ImapSession.fetchRaw}).
 */
export interface ImapSizeMismatch {
  uid: number;
  announced: number;
  received: number;
}

/** What {@link ImapSession.fetchRaw} noticed beyond the messages it handed over. */
export interface ImapFetchReport {
  sizeMismatches: ImapSizeMismatch[];
}

/**
 * What a delete or move did. Without UIDPLUS an EXPUNGE would also remove
 * messages another client flagged `\Deleted`, so it is withheld while there
 * are any: the messages stay in the folder, flagged `\Deleted` (and, for a
 * move, copied already).
 */
export interface ImapRemoveData {
  /** UIDs gone from the folder. */
  removed: number[];
  /** UIDs flagged `\Deleted` but still in the folder. */
  withheld: number[];
  /** UIDs of the other `\Deleted` messages that kept the EXPUNGE from being sent. */
  blockers: number[];
}

/** Options of {@link ImapSession.deleteMessages} and {@link ImapSession.moveMessages}. */
export interface ImapRemoveOptions {
  /**
   * Other UIDs of the folder whose removal is fine as well (the caller has
   * stored them): flagged `\Deleted`, they do not hold back an EXPUNGE sent
   * without UIDPLUS.
   */
  alsoRemovable?: ReadonlySet<number>;
}

/** Options of {@link ImapSession.moveMessages}. */
export interface ImapMoveOptions extends ImapRemoveOptions {
  /**
   * An earlier run may have begun moving these. Without MOVE and UIDPLUS, a
   * move is COPY then a guarded EXPUNGE; those already flagged `\Deleted` were
   * copied then (and their EXPUNGE withheld), so they are not copied again.
   */
  resumed?: boolean;
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
        throw uidValidityChanged(this.options.host, folder, validity, mailbox.uidValidity, "while reconnecting");
      }
      this.selected = folder;
      this.selectedValidity = validity;
    }
    return client;
  }

  /**
   * Run one command with the timeout; on a dropped connection reconnect once
   * and try again, as every command here is idempotent by UID, except UID
   * COPY: it passes `retry: false` (see {@link copyAtMostOnce}).
   */
  private async run<T>(command: string, fn: (client: ImapFlow) => Promise<T>, options: { retry: boolean } = { retry: true }): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const client = await this.ready();
      try {
        return await this.withTimeout(command, fn(client));
      } catch (error) {
        const classified = this.classify(error, command);
        if (options.retry && attempt === 0 && this.droppedUnderUs(classified)) continue;
        throw classified;
      }
    }
  }

  /** The connection closed under a command, not because this session was cancelled or closed. */
  private droppedUnderUs(error: unknown): boolean {
    return isInboundError(error) && error.code === "CONNECTION_CLOSED" && !this.options.signal?.aborted && !this.closed;
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
    return this.run("UID SEARCH", async (c) => found(c, await c.search({ all: true }, { uid: true }), "UID SEARCH ALL"));
  }

  /**
   * Size, dates, flags and Message-ID of the given UIDs, without their bodies.
   * With `envelope: false`, no Message-ID or Date (cheaper for the server).
   */
  async fetchMeta(uids: readonly number[], options: { envelope?: boolean } = {}): Promise<ImapMessageMeta[]> {
    const envelope = options.envelope ?? true;
    const out: ImapMessageMeta[] = [];
    for (const set of uidSets(uids)) {
      out.push(...(await this.run("UID FETCH", async (c) => {
        const metas: ImapMessageMeta[] = [];
        for await (const message of c.fetch(set, { uid: true, size: true, internalDate: true, flags: true, envelope }, { uid: true })) metas.push(this.meta(message));
        return metas;
      })));
    }
    return out;
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

  /** RFC822.SIZE of each of `uids` (one command per {@link uidSets} piece). */
  async fetchSizes(uids: readonly number[]): Promise<Map<number, number>> {
    const sizes = new Map<number, number>();
    for (const set of uidSets(uids)) {
      await this.run("UID FETCH RFC822.SIZE", async (c) => {
        for await (const message of c.fetch(set, { uid: true, size: true }, { uid: true })) sizes.set(message.uid, message.size ?? 0);
      });
    }
    return sizes;
  }

  /**
   * An upper bound of each message's size, enough to plan FETCH commands (see
   * {@link fetchRaw}): the exact size of messages over 256 KB, and 256 KB for
   * the rest. The server picks the large ones with `UID SEARCH LARGER`, so
   * only they cost a FETCH line each (parsing one costs ~0.1 ms here; the server
   * answers 2,000 in 9 ms). A refused SEARCH is an error, never "none large":
   * that would fetch a message of any size whole into memory.
   */
  async sizeBounds(uids: readonly number[]): Promise<Map<number, number>> {
    const bounds = new Map<number, number>();
    const large: number[] = [];
    for (const set of uidSets(uids)) {
      large.push(...(await this.run("UID SEARCH LARGER", async (c) => found(c, await c.search({ uid: set, larger: SMALL_MESSAGE_BOUND }, { uid: true }), "UID SEARCH LARGER"))));
    }
    for (const uid of uids) bounds.set(uid, SMALL_MESSAGE_BOUND);
    for (const [uid, size] of await this.fetchSizes(large)) bounds.set(uid, size);
    return bounds;
  }

  /**
   * Fetch the raw bytes of `uids` in ascending order, handing each to
   * `onMessage` as a stream. Messages up to 4 MB come in pipelined FETCHes of at most 8 MB each,
   * their flags and internal date in the same command; larger ones are streamed in 1 MB partial
   * fetches after it, so memory stays flat whatever the message size. `meta` has size, internal
   * date and flags; its `messageId` and `date` are `null` (read them from the message itself).
   * Pass `sizes` (exact, or bounds from {@link sizeBounds} for a whole plan) to save the round
   * trips that would ask for them here. When the session's signal aborts, the transfer stops
   * (the connection is closed) and this rejects with ABORTED; `onMessage` is not called again.
   *
   * A streamed message whose byte count differs from its RFC822.SIZE (some servers misreport
   * sizes) is checked by asking for one byte where it ended: none there means the server's
   * own copy ends there too, so it counts as whole and is listed in the report's
   * `sizeMismatches`; a byte there means the download was cut short, and this rejects with
   * IMAP_MESSAGE_INCOMPLETE.
   */
  async fetchRaw(uids: readonly number[], onMessage: (meta: ImapMessageMeta, body: Readable | Buffer) => Promise<void>, sizes?: ReadonlyMap<number, number>): Promise<ImapFetchReport> {
    const report: ImapFetchReport = { sizeMismatches: [] };
    if (uids.length === 0) return report;
    const known = sizes !== undefined && uids.every((uid) => sizes.has(uid)) ? sizes : await this.sizeBounds(uids);
    const present = uids.map((uid) => ({ uid, size: known.get(uid) as number }));
    // imapflow reads a FETCH's replies as fast as the server sends them, whatever the
    // consumer does, so one command per ≤ 8 MB of messages bounds what waits in memory
    // while the callback writes to disk (a batch of 100 × 4 MB would otherwise be 400 MB).
    for (const group of sizeGroups(present.filter((m) => m.size <= INLINE_FETCH_LIMIT), INLINE_FETCH_BYTES)) {
      for (const set of uidSets(group)) {
        // The callback only writes to disk: no IMAP command is issued inside this loop.
        await this.runStreaming("UID FETCH BODY.PEEK[]", async (c, touch) => {
          for await (const message of c.fetch(set, { uid: true, flags: true, internalDate: true, source: true }, { uid: true })) {
            touch();
            if (!message.source) continue;
            // Message-ID and Date come from the message's own header (see header-sniffer): no ENVELOPE needed.
            await onMessage({ ...this.meta(message), size: message.source.length }, message.source);
            touch();
          }
        });
      }
    }
    const large = present.filter((m) => m.size > INLINE_FETCH_LIMIT);
    for (const meta of await this.fetchMeta(large.map((m) => m.uid), { envelope: false })) {
      await this.runStreaming("UID FETCH BODY.PEEK[] (partial)", async (c, touch) => {
        const download = await c.download(String(meta.uid), undefined, { uid: true, chunkSize: DOWNLOAD_CHUNK });
        touch();
        if (!download.content) return;
        // Count bytes as they pass rather than with a 'data' listener, which would start
        // the stream flowing before onMessage reads it and drop the first chunks.
        let received = 0;
        const counted = download.content.pipe(new Transform({
          transform(chunk: Buffer, _encoding, done) {
            try {
              touch();
            } catch (stopped) {
              done(stopped as Error);
              return;
            }
            received += chunk.length;
            done(null, chunk);
          },
        }));
        download.content.once("error", (error) => counted.destroy(error));
        await onMessage(meta, counted);
        if (received === meta.size) return;
        // imapflow ends a partial download quietly when a chunk comes back without a body: a
        // message cut short would be stored (and deleted on the server) as if whole. But a
        // server may also misreport the size, and refusing those failed the batch at the same
        // message on every run. The server's bytes decide which it is.
        if (!(await endsAt(c, meta.uid, received))) throw incomplete(this.options.host, meta.uid, meta.size, received);
        report.sizeMismatches.push({ uid: meta.uid, announced: meta.size, received });
      });
    }
    return report;
  }

  /**
   * Like run(), but the timeout is for inactivity: long transfers are fine as
   * long as bytes keep arriving (`touch` resets the clock). When the session's
   * signal aborts, or the inactivity timeout strikes, the connection is closed
   * and this rejects at once (ABORTED or CONNECTION_TIMEOUT); from then on
   * `touch` throws that error, so `fn` hands nothing more to its callback.
   */
  private async runStreaming(command: string, fn: (client: ImapFlow, touch: () => void) => Promise<void>): Promise<void> {
    const client = await this.ready();
    const { timeoutMs, signal } = this.options;
    let last = Date.now();
    let stopped: InboundError | undefined;
    const touch = () => {
      if (stopped) throw stopped;
      last = Date.now();
    };
    // Any bytes from the server count too: on a slow link one message of a few MB takes longer
    // than the timeout to arrive whole, and timing out on it failed every run at that message.
    // (imapflow pipes its socket, so one more 'data' listener changes nothing about its reading.)
    const socket = (client as unknown as { socket?: EventEmitter | false }).socket;
    const heard = () => {
      last = Date.now();
    };
    if (socket) socket.on("data", heard);
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const guard = new Promise<never>((_, reject) => {
      const stop = (error: InboundError) => {
        stopped = error;
        client.close();
        reject(error);
      };
      const check = () => {
        if (Date.now() - last >= timeoutMs) {
          stop(new InboundError("CONNECTION_TIMEOUT", {
            message: `${this.options.host}:${this.options.port} sent nothing for ${timeoutMs} ms during ${command}; check the server or raise the account's timeout.`,
            retryable: true,
            details: { command, timeoutMs },
          }));
          return;
        }
        timer = setTimeout(check, Math.max(50, timeoutMs - (Date.now() - last)));
      };
      timer = setTimeout(check, timeoutMs);
      if (signal) {
        onAbort = () => stop(new InboundError("ABORTED", { message: `${command} was cancelled.` }));
        if (signal.aborted) onAbort();
        else signal.addEventListener("abort", onAbort, { once: true });
      }
    });
    const work = stopped ? Promise.resolve() : fn(client, touch);
    try {
      await Promise.race([work, guard]);
    } catch (error) {
      throw this.classify(error, command);
    } finally {
      clearTimeout(timer);
      if (socket) socket.off("data", heard);
      if (onAbort) signal?.removeEventListener("abort", onAbort);
      work.catch(() => undefined);
      guard.catch(() => undefined);
    }
  }

  /** Add flags (e.g. `\Seen`) to the given UIDs. */
  async addFlags(uids: readonly number[], flags: string[]): Promise<void> {
    for (const set of uidSets(uids)) {
      await this.run("UID STORE", async (c) => {
        const ok = await c.messageFlagsAdd(set, flags, { uid: true });
        if (!ok) throw await refused(c, "The server refused to set flags.", { command: "UID STORE" });
      });
    }
  }

  /**
   * Delete the given UIDs: flag them `\Deleted` and expunge them. With UIDPLUS
   * that is `UID EXPUNGE` of exactly these. Without it, EXPUNGE removes every
   * `\Deleted` message in the folder, including ones another client flagged
   * and Inbound never stored; so it is sent only when `UID SEARCH DELETED`
   * finds nothing but these (and `options.alsoRemovable`), and otherwise they
   * stay flagged and the result says so (`withheld`, `blockers`).
   */
  async deleteMessages(uids: readonly number[], options: ImapRemoveOptions = {}): Promise<ImapRemoveData> {
    if (uids.length === 0) return { removed: [], withheld: [], blockers: [] };
    if (await this.has("UIDPLUS")) {
      for (const set of uidSets(uids)) {
        await this.run("UID STORE \\Deleted + UID EXPUNGE", async (c) => {
          const ok = await c.messageDelete(set, { uid: true });
          if (!ok) throw await refused(c, "The server refused to delete the messages.", { command: "UID EXPUNGE" });
        });
      }
      return { removed: [...uids], withheld: [], blockers: [] };
    }
    await this.addFlags(uids, ["\\Deleted"]);
    return this.expungeOnly(uids, options);
  }

  /**
   * Move the given UIDs to `folder`, creating it when it does not exist: UID
   * MOVE, or else COPY and then delete as {@link deleteMessages} does (so
   * without UIDPLUS the originals may stay behind, flagged `\Deleted`).
   * Without MOVE, a message that already has its copy in `folder` (an earlier
   * run, or this one before a dropped connection, copied it) is not copied
   * again; see {@link copyAtMostOnce}.
   */
  async moveMessages(uids: readonly number[], folder: string, options: ImapMoveOptions = {}): Promise<ImapRemoveData> {
    if (uids.length === 0) return { removed: [], withheld: [], blockers: [] };
    await this.ensureFolder(folder);
    if (await this.has("MOVE")) {
      // Sent again after a dropped connection, a MOVE finds the moved UIDs gone and does nothing.
      for (const set of uidSets(uids)) {
        await this.run("UID MOVE", async (c) => {
          const result = await c.messageMove(set, folder, { uid: true });
          if (!result) throw await refused(c, `The server refused to move messages to "${folder}".`, { command: "UID MOVE", folder });
        });
      }
      return { removed: [...uids], withheld: [], blockers: [] };
    }
    // Flagged \Deleted: an earlier run copied them and got as far as flagging (without UIDPLUS its
    // EXPUNGE may have been withheld). (A message someone else flagged after it was stored is left
    // uncopied too; it is stored, and was on its way out.)
    const flagged = new Set(options.resumed ? await this.run("UID SEARCH DELETED", searchDeleted) : []);
    let toCopy = uids.filter((uid) => !flagged.has(uid));
    // An earlier run may have copied some and lost its connection before flagging them.
    if (options.resumed) toCopy = await this.notYetIn(folder, toCopy);
    await this.copyAtMostOnce(toCopy, folder);
    return this.deleteMessages(uids, options);
  }

  /**
   * UID COPY `uids` to `folder`. A COPY is the one command here that is not
   * idempotent: sent again after the connection dropped (the server may have
   * copied before the drop, and its OK is lost), it leaves a second copy. So
   * it is never retried blindly: after a drop, only what has no copy in
   * `folder` yet is copied, and a second drop is an error.
   */
  private async copyAtMostOnce(uids: readonly number[], folder: string): Promise<void> {
    const copy = (set: string) =>
      this.run("UID COPY", async (c) => {
        const result = await c.messageCopy(set, folder, { uid: true });
        if (!result) throw await refused(c, `The server refused to copy messages to "${folder}".`, { command: "UID COPY", folder });
      }, { retry: false });
    try {
      for (const set of uidSets(uids)) await copy(set);
    } catch (error) {
      if (!this.droppedUnderUs(error)) throw error;
      for (const set of uidSets(await this.notYetIn(folder, uids))) await copy(set);
    }
  }

  /**
   * Those of `uids` (of the selected folder) that have no copy in `folder`:
   * one with the same Message-ID, size and internal date, all of which COPY
   * keeps. A message without a Message-ID cannot be told from another and
   * counts as not copied: a second copy is better than a move without one.
   * Looks into `folder` read-only, then selects the original folder again
   * (IMAP_UIDVALIDITY_CHANGED if it is no longer the same).
   */
  private async notYetIn(folder: string, uids: readonly number[]): Promise<number[]> {
    const known = (await this.fetchMeta(uids)).filter((m) => m.messageId !== null);
    if (known.length === 0) return [...uids];
    const source = this.selected as string;
    const validity = this.selectedValidity as string;
    const copied = new Set<number>();
    await this.run("EXAMINE", (c) => c.mailboxOpen(folder, { readOnly: true }));
    // A reconnect meanwhile must come back to this folder, not the original.
    this.selected = folder;
    this.selectedValidity = undefined;
    try {
      for (const meta of known) {
        const candidates = await this.run("UID SEARCH HEADER Message-ID", async (c) =>
          found(c, await c.search({ header: { "message-id": meta.messageId as string } }, { uid: true }), "UID SEARCH HEADER"),
        );
        if (candidates.length === 0) continue;
        const copies = await this.fetchMeta(candidates, { envelope: false });
        const sameTime = (d: Date | null) => d === null || meta.internalDate === null || d.getTime() === meta.internalDate.getTime();
        if (copies.some((copy) => copy.size === meta.size && sameTime(copy.internalDate))) copied.add(meta.uid);
      }
    } finally {
      this.selected = source;
      this.selectedValidity = validity;
      const mailbox = await this.run("SELECT", (c) => c.mailboxOpen(source));
      if (String(mailbox.uidValidity) !== validity) throw uidValidityChanged(this.options.host, source, validity, mailbox.uidValidity, "during the move");
    }
    return uids.filter((uid) => !copied.has(uid));
  }

  /**
   * EXPUNGE (no UIDPLUS) when the `\Deleted` messages are `ours` (or
   * `alsoRemovable`) alone; else nothing, and the others are named. Another
   * client can still flag one between the SEARCH and the EXPUNGE: without
   * UIDPLUS no client can close that window, only keep it to one round trip.
   */
  private async expungeOnly(ours: readonly number[], options: ImapRemoveOptions): Promise<ImapRemoveData> {
    const mine = new Set(ours);
    const removable = (uid: number) => mine.has(uid) || options.alsoRemovable?.has(uid) === true;
    return this.run("UID SEARCH DELETED + EXPUNGE", async (c) => {
      const flagged = await searchDeleted(c);
      const others = flagged.filter((uid) => !removable(uid));
      if (others.length > 0) return { removed: [], withheld: [...ours], blockers: others };
      // Ours vanished meanwhile (another client expunged them): nothing left to expunge.
      if (flagged.length === 0) return { removed: [...ours], withheld: [], blockers: [] };
      // imapflow sends no EXPUNGE alone: without UIDPLUS its messageDelete is STORE +FLAGS
      // \Deleted (a no-op here: the UID already has it) followed by a plain EXPUNGE.
      const ok = await c.messageDelete(String(flagged[0]), { uid: true });
      if (!ok) throw await refused(c, "The server refused to expunge the messages.", { command: "EXPUNGE" });
      return { removed: [...ours], withheld: [], blockers: [] };
    });
  }

  /** Whether the server announced `capability` (e.g. `UIDPLUS`, `MOVE`). */
  private async has(capability: string): Promise<boolean> {
    return (await this.ready()).capabilities.has(capability);
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

/**
 * A SEARCH result, or the error for imapflow's `false` (the server refused the
 * SEARCH; a failed connection rejects instead): never read as "no match".
 */
async function found(client: ImapFlow, result: number[] | false | undefined, command: string): Promise<number[]> {
  if (Array.isArray(result)) return result.sort((a, b) => a - b);
  throw await refused(client, `The server refused ${command}; nothing was assumed about the messages.`, { command });
}

/** UIDs of the selected folder's messages flagged `\Deleted`, by anyone. */
async function searchDeleted(client: ImapFlow): Promise<number[]> {
  return found(client, await client.search({ deleted: true }, { uid: true }), "UID SEARCH DELETED");
}

/** The selected folder came back with another UIDVALIDITY: every UID the caller holds may now name another message. */
function uidValidityChanged(host: string, folder: string, validity: string, now: unknown, when: string): InboundError {
  return new InboundError("IMAP_UIDVALIDITY_CHANGED", {
    message: `The UIDVALIDITY of "${folder}" on ${host} changed from ${validity} to ${String(now)} ${when}; nothing more was done in this run, and the next run matches the folder's messages again.`,
    retryable: true,
    details: { folder, uidValidity: validity, newUidValidity: String(now) },
  });
}

/** True when the server has no byte at `offset` of message `uid`: its copy ends there. */
async function endsAt(client: ImapFlow, uid: number, offset: number): Promise<boolean> {
  const tail = await client.fetchOne(String(uid), { source: { start: offset, maxLength: 1 } }, { uid: true });
  return tail !== false && Buffer.isBuffer(tail.source) && tail.source.length === 0;
}

function incomplete(host: string, uid: number, announced: number, received: number): InboundError {
  return new InboundError("IMAP_MESSAGE_INCOMPLETE", {
    message:
      `${host} stopped sending UID ${uid} after ${received} bytes though it holds more (it announced ${announced}, RFC822.SIZE); nothing of its batch was stored or removed from the server, and the next run fetches it again. ` +
      "If this repeats for the same message, the server cannot read that message whole: ask its administrator to check the mailbox (for Dovecot, `doveadm force-resync`).",
    retryable: true,
    details: { uid, announced, received },
  });
}
