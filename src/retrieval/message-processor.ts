import { safeHtml } from "../mime/finish-parse.js";
import type { InlineImageRef, ParsedMessage as MimeParsed } from "../mime/parse-message.js";
import { SANITIZER_VERSION } from "../mime/sanitize-html.js";
import type { RawSource } from "../mime/parse-raw.js";
import type { RawLocation, StaleSanitized } from "../store/message-repository.js";
import type { AccountRecord } from "../store/account-repository.js";
import { InboundError, isInboundError } from "../core/inbound-error.js";
import { appendOutboxMany } from "../store/append-outbox.js";
import type { Store } from "../store/store.js";

/** Per-account parse settings. */
export interface ProcessSettings {
  sanitize: boolean;
  inlineImages: boolean;
}

/**
 * Parses a raw message where it is stored (checking its recorded hash on
 * the same read); in production a worker pool, so parsing uses every core.
 * `parseRaw` does it in-process.
 */
export type ParseFunction = (source: RawSource, settings: ProcessSettings) => Promise<MimeParsed>;

/** What processing a set of messages came to. */
export interface ProcessResult {
  parsed: number;
  parseErrors: number;
}

/**
 * Turns stored raw messages into parsed ones: parse (off the main thread),
 * then save fields and attachments and queue the `message.received`
 * event in the same transaction (results that finish while a save runs are
 * saved together in the next one). A message that fails to parse is saved with its
 * parse error and still announced; it never stops the others.
 *
 * @example
 * ```ts
 * const processor = createMessageProcessor({ store, parse: (path, s) => pool.parse(path, { blobDir, ...s }) });
 * await processor.process(account, ["0193...", "0193..."]);
 * ```
 */
export interface MessageProcessor {
  process(account: Pick<AccountRecord, "id" | "sanitize" | "inlineImages">, messageIds: readonly string[]): Promise<ProcessResult>;
  /**
   * Parse everything still pending (e.g. after a crash between store and parse), then sanitize
   * again the HTML of messages an older sanitizer made safe (see SANITIZER_VERSION).
   */
  processPending(accounts: (id: string) => Promise<Pick<AccountRecord, "id" | "sanitize" | "inlineImages">>, accountId?: string): Promise<ProcessResult>;
  /**
   * A retrieval is taking messages off a server: until the returned function
   * is called, parsing waits, so it does not slow down what makes mail safe
   * to delete — for the first `takingGraceMs` of the take; a longer one (a
   * large import) has `takingConcurrency` parses running beside it.
   */
  taking(): () => void;
}

/** Parsed messages held for the next group commit before parsing waits for it. */
const MAX_UNSAVED = 32;
/** ...and their bodies (UTF-16 code units of text, HTML and sanitized HTML): a few huge HTML bodies count like many. */
const MAX_UNSAVED_CHARS = 8 * 1024 * 1024;

function bodyChars(parsed: MimeParsed | null): number {
  return parsed === null ? 0 : (parsed.text?.length ?? 0) + (parsed.html?.length ?? 0) + (parsed.sanitizedHtml?.length ?? 0);
}

type ProcessAccount = Pick<AccountRecord, "id" | "sanitize" | "inlineImages">;

type SaveEntry = Unsaved & { parsed: MimeParsed };

interface WorkItem {
  account: ProcessAccount;
  id: string;
  raw: RawLocation;
}

/**
 * How long parsing waits for a take. Taking is what makes mail safe to
 * delete and is exposed to the network; parsing is local and loses nothing by
 * waiting. A poll takes a few messages in well under this and parses them
 * right after; a large import parses beside the take after it, so mail still
 * appears as it goes.
 */
const DEFAULT_TAKING_GRACE_MS = 10_000;

/** An unreferenced spool segment older than this is left over from a crash or a failed commit. */
const SPOOL_ORPHAN_AGE_MS = 60 * 60 * 1000;
/** The same warning ("spool not swept", "stored messages cannot be read") is logged again after this long. */
const REPEAT_WARNING_AFTER_MS = 60 * 60 * 1000;

interface Unsaved {
  item: WorkItem;
  /** `null` when the raw bytes could not be read (or are damaged): nothing to save, the message stays pending. */
  parsed: MimeParsed | null;
  done: (error?: unknown) => void;
}

export function createMessageProcessor(options: {
  store: Store;
  parse: ParseFunction;
  concurrency?: number;
  /** Parses at once while a retrieval has been taking for longer than `takingGraceMs` (see `taking()`). Default 1. */
  takingConcurrency?: number;
  /** How long parsing waits for a take before it runs beside it (see `taking()`). Default 10 s. */
  takingGraceMs?: number;
  /** Told after each group of parsed messages (and their `message.received` events) committed, e.g. to wake delivery. */
  onSaved?: () => void;
  /** Where sanitized HTML points inline images when sanitized again; the parser's default when absent. */
  inlineImageUrl?: (att: InlineImageRef) => string;
}): MessageProcessor {
  const { store, parse } = options;
  const concurrency = options.concurrency ?? 4;
  const takingConcurrency = Math.max(1, options.takingConcurrency ?? 1);
  const takingGraceMs = Math.max(0, options.takingGraceMs ?? DEFAULT_TAKING_GRACE_MS);

  // The parse gate: how many parses may run now; while retrievals are taking, none for the
  // first takingGraceMs, then a few.
  let takers = 0;
  let graceOver = false;
  let graceTimer: NodeJS.Timeout | undefined;
  let parsing = 0;
  const gateWaiters: Array<() => void> = [];
  const parseLimit = () => (takers === 0 ? concurrency : graceOver ? takingConcurrency : 0);
  function openGate(): void {
    while (gateWaiters.length > 0 && parsing < parseLimit()) {
      parsing++;
      (gateWaiters.shift() as () => void)();
    }
  }
  async function enterGate(): Promise<void> {
    if (parsing < parseLimit() && gateWaiters.length === 0) {
      parsing++;
      return;
    }
    await new Promise<void>((resolve) => gateWaiters.push(resolve));
  }
  function leaveGate(): void {
    parsing--;
    openGate();
  }

  // Group commit: parse results wait here while a save runs, then go in the next transaction
  // together, each with its message.received event. One transaction per message cost the main
  // thread more than the taking itself.
  let unsaved: Unsaved[] = [];
  let unsavedChars = 0;
  let saving: Promise<void> | null = null;
  // Parses finish in any order, but events must follow store order (per account, handlers and
  // webhooks see mail in the order it was stored): results wait here, by the sequence in which
  // their messages were handed in, until every earlier one is parsed too.
  let nextSeq = 0;
  let submitted = 0;
  const parsedAhead = new Map<number, Unsaved>();
  let aheadChars = 0;

  // Parsed results held in memory, waiting for an earlier parse (parsedAhead) or for a save
  // (unsaved), stay few: a slow parse at the head must not let the others pile up behind it.
  let roomWaiters: Array<() => void> = [];
  const heldTooMany = () => unsaved.length + parsedAhead.size >= MAX_UNSAVED || unsavedChars + aheadChars >= MAX_UNSAVED_CHARS;
  function wakeRoom(): void {
    const woken = roomWaiters;
    roomWaiters = [];
    for (const wake of woken) wake();
  }

  function release(seq: number, entry: Unsaved): void {
    parsedAhead.set(seq, entry);
    aheadChars += bodyChars(entry.parsed);
    for (let ready = parsedAhead.get(nextSeq); ready !== undefined; ready = parsedAhead.get(nextSeq)) {
      parsedAhead.delete(nextSeq++);
      const chars = bodyChars(ready.parsed);
      aheadChars -= chars;
      unsaved.push(ready);
      unsavedChars += chars;
    }
    saveSoon();
    wakeRoom();
  }

  function saveSoon(): void {
    if (saving !== null || unsaved.length === 0) return;
    const group = unsaved;
    unsaved = [];
    unsavedChars = 0;
    saving = saveGroup(group.filter((u) => u.parsed !== null) as SaveEntry[]).then(
      () => {
        options.onSaved?.();
        group.forEach((u) => u.done());
      },
      (error: unknown) => group.forEach((u) => u.done(error)),
    ).finally(() => {
      saving = null;
      saveSoon();
      wakeRoom();
    });
  }

  async function saveGroup(group: SaveEntry[]): Promise<void> {
    if (group.length === 0) return;
    await store.transaction(async (trx) => {
      const saved = await store.messages.savePendingParsed(trx, group.map(({ item, parsed }) => ({
        messageId: item.id,
        parsed: {
          messageIdHeader: parsed.messageId ?? undefined,
          sentDate: parsed.date ?? undefined,
          subject: parsed.subject,
          from: parsed.from,
          to: parsed.to,
          cc: parsed.cc,
          bcc: parsed.bcc,
          replyTo: parsed.replyTo,
          headers: parsed.headers,
          textBody: parsed.text,
          htmlBody: parsed.html,
          sanitizedHtml: parsed.sanitizedHtml,
          sanitizerVersion: SANITIZER_VERSION,
          parseError: parsed.parseError,
        },
        // The parser's attachments are the store's input as they are (their ids name inline-image URLs).
        attachments: parsed.attachments,
      })));
      // Only what this transaction saved: a message another worker or process parsed meanwhile
      // already has its event, and must not get a second one.
      const fresh = new Set(saved);
      await appendOutboxMany(trx, group.filter(({ item }) => fresh.has(item.id)).map(({ item }) => ({ accountId: item.account.id, type: "message.received", payload: { messageId: item.id } })));
    });
  }

  // The last warning of each kind (and account), so a service polling every minute logs it hourly, not each time.
  const lastWarnings = new Map<string, { message: string; at: number }>();
  /** Append a warning event unless the same one was appended within the hour. */
  async function warnHourly(event: { accountId: string | null; type: string; message: string; data: Record<string, unknown> }): Promise<void> {
    const key = `${event.type}:${event.accountId ?? ""}`;
    const last = lastWarnings.get(key);
    if (last !== undefined && last.message === event.message && Date.now() - last.at < REPEAT_WARNING_AFTER_MS) return;
    lastWarnings.set(key, { message: event.message, at: Date.now() });
    await store.events.append({ ...event, level: "warn" });
  }

  async function warnUnreadable(accountId: string | null, error: InboundError): Promise<void> {
    const message =
      `Stored messages cannot be parsed because their raw bytes are missing or damaged; they stay pending and are tried again at every run. ` +
      `Restore the blobs directory from a backup. The first: ${error.message}`;
    await warnHourly({ accountId, type: "messages.unreadable", message, data: { code: error.code } });
  }

  /**
   * Sanitize again, from its HTML body, every message whose sanitized HTML an older sanitizer
   * made: a rule tightened since must reach mail stored before it, since pages and webhooks
   * show what is stored. Inline images follow the account's setting as it is now.
   */
  async function refreshSanitized(accounts: (id: string) => Promise<ProcessAccount>, accountId: string | undefined): Promise<void> {
    let after: StaleSanitized | undefined;
    // One lookup per account, not per message: a first pass after an upgrade covers every message.
    const settings = new Map<string, Promise<ProcessAccount>>();
    for (;;) {
      const page = await store.messages.staleSanitized(SANITIZER_VERSION, 100, { accountId, after });
      if (page.length === 0) return;
      after = page[page.length - 1];
      for (const message of page) {
        if (!settings.has(message.accountId)) settings.set(message.accountId, accounts(message.accountId));
        const { inlineImages } = await (settings.get(message.accountId) as Promise<ProcessAccount>);
        const attachments = inlineImages ? await store.messages.attachments(message.id) : [];
        const html = safeHtml(message.htmlBody ?? "", attachments, { inlineImages, inlineImageUrl: options.inlineImageUrl });
        // A parse that saved meanwhile wrote its own, current one: then this is not written.
        await store.messages.replaceSanitized(message.id, message.sanitizerVersion, html, SANITIZER_VERSION);
      }
    }
  }

  /**
   * Delete spool segments no row points into that were last written long ago (a crash, a failed commit),
   * when the spool belongs to this database. To another database every segment looks unreferenced:
   * then nothing is deleted and a warning event says whose the spool is and what to do.
   */
  async function sweepSpool(): Promise<void> {
    const ownership = await store.spoolOwner.check();
    if (ownership.state !== "owned") {
      const problem = store.spoolOwner.notOwnedError(ownership);
      await warnHourly({ accountId: null, type: "spool.sweep_skipped", message: `Old spool segments were not swept: ${problem.message}`, data: { code: problem.code, ...problem.details } });
      return;
    }
    const cutoff = Date.now() - SPOOL_ORPHAN_AGE_MS;
    const old = (await store.spool.list()).filter(({ modifiedAt }) => modifiedAt.getTime() < cutoff).map(({ segment }) => segment);
    const inUse = await store.messages.spoolSegmentsInUse(old);
    for (const segment of old) if (!inUse.has(segment)) await store.spool.remove(segment);
  }

  function sourceOf(raw: RawLocation): RawSource {
    const sha256 = raw.rawSha256;
    if (raw.spool === null) return { path: store.blobs.path(sha256), sha256 };
    return { path: store.spool.path(raw.spool.segment), range: { start: raw.spool.offset, size: raw.size }, sha256 };
  }

  /** Parse one message and queue its save; resolves when parsed, with the save still to come. */
  async function parseOne(item: WorkItem, seq: number): Promise<{ ok: boolean; saved: Promise<void> }> {
    let parsed: MimeParsed | null;
    let failure: unknown = null;
    try {
      parsed = await parse(sourceOf(item.raw), { sanitize: item.account.sanitize, inlineImages: item.account.inlineImages });
    } catch (error) {
      if (isInboundError(error) && error.code !== "MESSAGE_PARSE_FAILED") {
        // Not the message's fault: its raw bytes could not be read or no longer match their hash
        // (STORE_FAILED, BLOB_NOT_FOUND), or the parse was cut short (ABORTED: the pool closed).
        // Nothing to save; the message stays pending (and the error reaches the caller) for a
        // later pass, rather than being announced for good as a message that would not parse.
        parsed = null;
        failure = error;
      } else {
        // A crash of the parser itself is recorded like a parse error: the raw message stays stored.
        parsed = emptyParse(error instanceof Error ? error.message : String(error));
      }
    }
    const saved = new Promise<void>((resolve, reject) => {
      release(seq, { item, parsed, done: (error) => (error === undefined && failure === null ? resolve() : reject(error ?? failure)) });
    });
    saved.catch(() => undefined);
    return { ok: parsed !== null && parsed.parseError === null, saved };
  }

  // Messages being parsed in this process: a catch-up pass must not parse them a second time.
  const inFlight = new Set<string>();

  /** Parse and save `all`; what failed is returned (the first failure), not thrown, with the counts of the rest. */
  async function run(all: WorkItem[]): Promise<ProcessResult & { failure?: { error: unknown } }> {
    const result: ProcessResult = { parsed: 0, parseErrors: 0 };
    const items = all.filter((item) => !inFlight.has(item.id));
    for (const item of items) inFlight.add(item.id);
    const saves: Promise<void>[] = [];
    let next = 0;
    const worker = async () => {
      while (next < items.length) {
        // A parse slot does not wait for the save, but parsed results waiting stay few. It waits
        // before it takes a message and its place in the order: every earlier place is then
        // being parsed or done, so what it waits for always comes.
        while (heldTooMany()) await new Promise<void>((resolve) => roomWaiters.push(resolve));
        if (next >= items.length) break;
        const item = items[next++];
        const seq = submitted++;
        await enterGate();
        let parsedOne: Awaited<ReturnType<typeof parseOne>>;
        try {
          parsedOne = await parseOne(item, seq);
        } finally {
          leaveGate();
        }
        const { ok, saved } = parsedOne;
        const counted = saved.then(() => {
          result.parsed++;
          if (!ok) result.parseErrors++;
        });
        // Awaited (and so reported) only once every message is parsed: a damaged raw file that
        // fails now must not surface as an unhandled rejection, which ends the process.
        counted.catch(() => undefined);
        saves.push(counted);
      }
    };
    let failure: { error: unknown } | undefined;
    try {
      await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
      for (const settled of await Promise.allSettled(saves)) if (settled.status === "rejected") failure ??= { error: settled.reason };
    } finally {
      for (const item of items) inFlight.delete(item.id);
    }
    return failure === undefined ? result : { ...result, failure };
  }

  return {
    taking() {
      if (takers++ === 0) {
        graceOver = false;
        graceTimer = setTimeout(() => {
          graceOver = true;
          openGate();
        }, takingGraceMs);
        graceTimer.unref();
      }
      let done = false;
      return () => {
        if (done) return;
        done = true;
        if (--takers === 0) clearTimeout(graceTimer);
        openGate();
      };
    },
    async process(account, messageIds) {
      const locations = await store.messages.rawLocations(messageIds);
      const items: WorkItem[] = [];
      for (const id of messageIds) {
        const raw = locations.get(id);
        if (raw === undefined) throw new InboundError("MESSAGE_NOT_FOUND", { message: `No stored message has the id "${id}".` });
        items.push({ account, id, raw });
      }
      const { failure, ...result } = await run(items);
      if (failure !== undefined) throw failure.error;
      return result;
    },
    async processPending(accounts, accountId) {
      const total: ProcessResult = { parsed: 0, parseErrors: 0 };
      // One pass over everything pending, page after page by id: a page whose messages cannot be
      // read (a damaged or missing raw file) stays pending and is reported at the end, without
      // holding up the pages behind it.
      let after: string | undefined;
      let unreadable: InboundError | undefined;
      let otherFailure: { error: unknown } | undefined;
      for (;;) {
        const page = await store.messages.pendingForProcessing(100, accountId, undefined, after);
        if (page.length === 0) break;
        after = page[page.length - 1].id;
        // Pending messages this process is already parsing are someone else's job here.
        const items: WorkItem[] = [];
        for (const { id, accountId: owner, ...raw } of page) if (!inFlight.has(id)) items.push({ account: await accounts(owner), id, raw });
        const result = await run(items);
        total.parsed += result.parsed;
        total.parseErrors += result.parseErrors;
        if (result.failure === undefined) continue;
        // A raw file that is gone or damaged stays so until someone restores it: say so, and let
        // the run that asked go on (it may be taking new mail). Anything else is the caller's.
        if (isUnreadableRaw(result.failure.error)) unreadable ??= result.failure.error as InboundError;
        else otherFailure ??= result.failure;
      }
      try {
        await refreshSanitized(accounts, accountId).catch((error: unknown) =>
          warnHourly({
            accountId: accountId ?? null,
            type: "messages.resanitize_failed",
            message: `Messages sanitized by an older version of the sanitizer could not be sanitized again; their HTML stays as it was until the next run tries again: ${error instanceof Error ? error.message : String(error)}`,
            data: isInboundError(error) ? { code: error.code } : {},
          }),
        );
        if (unreadable !== undefined) await warnUnreadable(accountId ?? null, unreadable);
        if (otherFailure !== undefined) throw otherFailure.error;
      } finally {
        await sweepSpool().catch(() => undefined);
      }
      return total;
    },
  };
}

/** The raw bytes of a stored message are gone or no longer match their hash: only a restore helps. */
function isUnreadableRaw(error: unknown): boolean {
  return isInboundError(error) && (error.code === "BLOB_NOT_FOUND" || (error.code === "STORE_FAILED" && !error.retryable));
}

function emptyParse(parseError: string): MimeParsed {
  return { messageId: null, subject: null, from: [], to: [], cc: [], bcc: [], replyTo: [], date: null, headers: [], text: null, html: null, sanitizedHtml: null, attachments: [], parseError };
}
