import { sql, type ExpressionBuilder, type Selectable } from "kysely";
import { InboundError } from "../core/inbound-error.js";
import { newId } from "../core/ids.js";
import { atomically, type Executor } from "./executor.js";
import type { AttachmentsTable, MessagesTable, MessageStatus, Schema } from "./schema.js";
import type { SpoolRef } from "./raw-spool.js";
import { imapSourceKeyPrefix, POP3_SOURCE_KEY_PREFIX } from "./source-key.js";
import { storableText } from "./storable-text.js";
import { toTimestamp, toTimestampOrNull } from "./timestamp.js";

/** A mailbox address as parsed from a header. */
export interface Address {
  name: string;
  address: string;
}

/** One header field as it appeared, in order: `key` lower-cased, `line` the full unfolded header line. */
export interface HeaderLine {
  key: string;
  line: string;
}

/** A message just taken off the server, its raw bytes durable in its batch's spool segment. */
export interface TakenMessage {
  accountId: string;
  /** From `sourceKey(...)`; the identity that makes a second take a no-op. */
  sourceKey: string;
  /** IMAP folder; `null` for POP3. */
  folder: string | null;
  uidValidity: string | number | bigint | null;
  uid: number | null;
  uidl: string | null;
  rawSha256: string;
  size: number;
  /** Where the raw bytes are; `null` only for messages whose raw bytes are a blob (stored before segments were kept). */
  spool?: SpoolRef | null;
  internalDate: Date | string | null;
  flags: string[];
  messageIdHeader: string | null;
  sentDate: Date | string | null;
  subject?: string | null;
}

/** Where a stored message's raw bytes are: a range of a spool segment, or (messages stored before segments were kept) the blob `rawSha256`. */
export interface RawLocation {
  rawSha256: string;
  size: number;
  spool: SpoolRef | null;
}

/** What the MIME parser extracted. With `parseError` set the message is marked failed but what was parsed is kept. */
export interface ParsedMessage {
  /** Overrides the envelope's Message-ID when given. */
  messageIdHeader?: string | null;
  /** Overrides the envelope's date when given. */
  sentDate?: Date | string | null;
  subject: string | null;
  from: Address[];
  to: Address[];
  cc: Address[];
  bcc: Address[];
  replyTo: Address[];
  headers: HeaderLine[];
  textBody: string | null;
  htmlBody: string | null;
  sanitizedHtml: string | null;
  /** The sanitizer version that made `sanitizedHtml` (see {@link MessageRepository.staleSanitized}). */
  sanitizerVersion?: number | null;
  parseError?: string | null;
}

/** A message whose sanitized HTML an older sanitizer made, to be sanitized again from its HTML body. */
export interface StaleSanitized {
  id: string;
  accountId: string;
  htmlBody: string | null;
  sanitizerVersion: number;
}

/** One attachment to record; its bytes are already in the blob store under `sha256`. */
export interface AttachmentInput {
  /** The id the parser gave it (inline-image URLs in the sanitized HTML name it); a new one when absent. */
  id?: string;
  filename: string | null;
  contentType: string;
  size: number;
  contentId: string | null;
  disposition: "inline" | "attachment";
  sha256: string;
}

/** A stored attachment. */
export interface AttachmentRecord extends AttachmentInput {
  id: string;
  messageId: string;
  position: number;
  createdAt: string;
}

/** A stored message without its bodies and headers, as listed. */
export interface MessageSummary {
  id: string;
  accountId: string;
  folder: string | null;
  uidValidity: string | null;
  uid: number | null;
  uidl: string | null;
  rawSha256: string;
  size: number;
  internalDate: string | null;
  flags: string[];
  messageIdHeader: string | null;
  sentDate: string | null;
  subject: string | null;
  from: Address[] | null;
  to: Address[] | null;
  status: MessageStatus;
  parseError: string | null;
  storedAt: string;
  processedAt: string | null;
}

/** A stored message with everything parsed from it (`null` fields until parsed). */
export interface MessageRecord extends MessageSummary {
  cc: Address[] | null;
  bcc: Address[] | null;
  replyTo: Address[] | null;
  headers: HeaderLine[] | null;
  textBody: string | null;
  htmlBody: string | null;
  sanitizedHtml: string | null;
}

/** A message waiting for the parser. */
export interface PendingMessage extends RawLocation {
  id: string;
  accountId: string;
}

/** A result page; `nextCursor` is `null` on the last page. */
export interface MessagePage {
  items: MessageSummary[];
  nextCursor: string | null;
}

/** Options for {@link MessageRepository.list}. */
export interface ListMessagesOptions {
  accountId?: string;
  /** 1..500, default 50. */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string | null;
  /** Only messages from this IMAP folder. */
  folder?: string;
  /** Message date (sent date, else the server's internal date, else when stored) at or after this instant. */
  since?: Date | string;
  /** Message date before this instant. */
  until?: Date | string;
  /** Case-insensitive text in a From name or address. */
  from?: string;
  /** Case-insensitive text in the subject. */
  subject?: string;
  /** `true`: only messages with at least one attachment; `false`: only those without. */
  hasAttachments?: boolean;
}

/** Whether an already stored message matches one seen under a new UIDVALIDITY. Not finding one is a normal answer. */
export type ResyncMatch = { found: true; messageId: string } | { found: false };

/** Outcome of {@link MessageRepository.insertTaken}. */
export interface InsertTakenResult {
  /** Ids of the new message rows, in input order. */
  inserted: string[];
  /** How many rows named a source key that was already stored (nothing inserted for them). */
  duplicates: number;
}

/** Stored messages, their identity ledger and attachments. */
export interface MessageRepository {
  /** UIDs already stored for one folder under one UIDVALIDITY, so a fetch plan can skip them. */
  storedImapUids(accountId: string, folder: string, uidValidity: string | number | bigint, executor?: Executor): Promise<Set<number>>;
  /** POP3 UIDLs already stored for the account. */
  storedUidls(accountId: string, executor?: Executor): Promise<Set<string>>;
  /**
   * The stored size of the message behind each of `sourceKeys` (those not in
   * the ledger are absent): before a leftover is deleted or moved on the
   * server, its size there must still be the stored one.
   */
  storedSizes(accountId: string, sourceKeys: readonly string[], executor?: Executor): Promise<Map<string, number>>;
  /**
   * Store each message and its source row; a source key already in the ledger
   * (also one committed meanwhile by a concurrent writer) stores nothing and
   * counts as a duplicate. Atomic: runs in `trx` or its own transaction.
   */
  insertTaken(trx: Executor, rows: readonly TakenMessage[]): Promise<InsertTakenResult>;
  /** Where the raw bytes of each of `ids` that exists are (one query per 200 ids rather than a `get` each). */
  rawLocations(ids: readonly string[], executor?: Executor): Promise<Map<string, RawLocation>>;
  /** Where one message's raw bytes are. Throws MESSAGE_NOT_FOUND. */
  rawLocation(id: string, executor?: Executor): Promise<RawLocation>;
  /** Which of `segments` any message has its raw bytes in (one query per 200 segments rather than one each). */
  spoolSegmentsInUse(segments: readonly string[], executor?: Executor): Promise<Set<string>>;
  /**
   * After a UIDVALIDITY reset or a mailbox change: the stored message in this
   * account and folder (any folder with `anyFolder`) with the same
   * Message-ID, size and date, if any. A message without a
   * Message-ID never matches (too weak to call it the same message). With
   * `uidValidity` (the new one), a stored message already linked under it is
   * no match: one stored message stands for one message on the server, so a
   * second server copy is fetched rather than deleted as if it were stored.
   */
  findResyncMatch(accountId: string, folder: string | null, probe: ResyncProbe, executor?: Executor): Promise<ResyncMatch>;
  /**
   * The account now points at another mailbox (another host, user or
   * protocol): its UIDs and UIDLs name other messages there. Move every
   * source key of the account out of the ledger's way (kept, as
   * `retired:<id>:<key>`, so the history stays), so that no message of the
   * new mailbox counts as stored by a key it merely shares. Returns how many
   * keys were retired.
   */
  retireSources(trx: Executor, accountId: string): Promise<number>;
  /** Whether the account has retired source keys (see {@link retireSources}): its first run on the new mailbox resynchronises. */
  hasRetiredSources(accountId: string, executor?: Executor): Promise<boolean>;
  /** Point another source key at an existing message. `linked: false` when the key was already in the ledger. */
  linkSource(trx: Executor, accountId: string, sourceKey: string, messageId: string): Promise<{ linked: boolean }>;
  /** Oldest first: messages still waiting for the parser. */
  pendingForProcessing(limit: number, accountId?: string, executor?: Executor, afterId?: string): Promise<PendingMessage[]>;
  /**
   * Record the parse result and replace the message's attachments. Throws MESSAGE_NOT_FOUND.
   * The raw bytes stay where they are (their segment, or an older message's blob).
   */
  saveParsed(trx: Executor, messageId: string, parsed: ParsedMessage, attachments: readonly AttachmentInput[]): Promise<void>;
  /**
   * Save the parse results of messages still `pending`, several in one go (one UPDATE each, their
   * attachments in one INSERT). A message another worker or process has saved meanwhile is left
   * alone: returns the ids actually saved, so only those get their `message.received` event.
   */
  savePendingParsed(trx: Executor, items: ReadonlyArray<{ messageId: string; parsed: ParsedMessage; attachments: readonly AttachmentInput[] }>): Promise<string[]>;
  /**
   * Messages whose sanitized HTML a sanitizer older than `version` made (of `accountId` alone
   * when given), in index order, after `after` (the last one of the previous page): to be
   * sanitized again with {@link replaceSanitized}.
   */
  staleSanitized(version: number, limit: number, options?: { accountId?: string; after?: StaleSanitized }): Promise<StaleSanitized[]>;
  /**
   * Replace a message's sanitized HTML, if it is still the one `fromVersion` made (a parse that
   * saved meanwhile wins). Returns whether it was replaced.
   */
  replaceSanitized(id: string, fromVersion: number, sanitizedHtml: string, version: number): Promise<boolean>;
  /** Newest first, paged by cursor. */
  list(options?: ListMessagesOptions, executor?: Executor): Promise<MessagePage>;
  /** Throws MESSAGE_NOT_FOUND. */
  get(id: string, executor?: Executor): Promise<MessageRecord>;
  /** The message's attachments in order; empty for an unknown message. */
  attachments(messageId: string, executor?: Executor): Promise<AttachmentRecord[]>;
  /** Throws ATTACHMENT_NOT_FOUND. */
  getAttachment(id: string, executor?: Executor): Promise<AttachmentRecord>;
  countByAccount(accountId: string, executor?: Executor): Promise<number>;
  /** Messages stored per account, in one query (accounts without messages are absent). */
  countsByAccount(executor?: Executor): Promise<Map<string, number>>;
}

const SUMMARY_COLUMNS = [
  "id", "account_id", "folder", "uid_validity", "uid", "uidl", "raw_sha256", "size", "internal_date", "flags_json",
  "message_id_header", "sent_date", "subject", "from_json", "to_json", "status", "parse_error", "stored_at", "processed_at",
] as const;

type SummaryRow = Pick<Selectable<MessagesTable>, (typeof SUMMARY_COLUMNS)[number]>;

const RAW_LOCATION_COLUMNS = ["raw_sha256", "size", "spool_segment", "spool_offset"] as const;

function toRawLocation(row: Pick<Selectable<MessagesTable>, (typeof RAW_LOCATION_COLUMNS)[number]>): RawLocation {
  return {
    rawSha256: row.raw_sha256,
    size: row.size,
    spool: row.spool_segment === null ? null : { segment: row.spool_segment, offset: Number(row.spool_offset) },
  };
}

function json<T>(text: string | null): T | null {
  return text === null ? null : (JSON.parse(text) as T);
}

function toSummary(row: SummaryRow): MessageSummary {
  return {
    id: row.id,
    accountId: row.account_id,
    folder: row.folder,
    uidValidity: row.uid_validity,
    uid: row.uid,
    uidl: row.uidl,
    rawSha256: row.raw_sha256,
    size: row.size,
    internalDate: row.internal_date,
    flags: JSON.parse(row.flags_json) as string[],
    messageIdHeader: row.message_id_header,
    sentDate: row.sent_date,
    subject: row.subject,
    from: json<Address[]>(row.from_json),
    to: json<Address[]>(row.to_json),
    status: row.status,
    parseError: row.parse_error,
    storedAt: row.stored_at,
    processedAt: row.processed_at,
  };
}

function toRecord(row: Selectable<MessagesTable>): MessageRecord {
  return {
    ...toSummary(row),
    cc: json<Address[]>(row.cc_json),
    bcc: json<Address[]>(row.bcc_json),
    replyTo: json<Address[]>(row.reply_to_json),
    headers: json<HeaderLine[]>(row.headers_json),
    textBody: row.text_body,
    htmlBody: row.html_body,
    sanitizedHtml: row.sanitized_html,
  };
}

function toAttachment(row: Selectable<AttachmentsTable>): AttachmentRecord {
  return {
    id: row.id,
    messageId: row.message_id,
    position: row.position,
    filename: row.filename,
    contentType: row.content_type,
    size: row.size,
    contentId: row.content_id,
    disposition: row.disposition,
    sha256: row.sha256,
    createdAt: row.created_at,
  };
}

/** A LIKE pattern for "contains `text`", lower-cased, with `!` escaping the wildcards. */
function containsPattern(text: string): string {
  return `%${text.toLowerCase().replace(/[!%_]/g, (c) => `!${c}`)}%`;
}

/** What {@link MessageRepository.findResyncMatch} looks for. */
export interface ResyncProbe {
  messageIdHeader: string | null;
  size: number;
  sentDate: Date | string | null;
  /** IMAP: the new UIDVALIDITY; a message already linked under it is no match. */
  uidValidity?: string;
  /** POP3: a message already linked under a key with this start is no match. */
  notLinkedUnder?: string;
  /** Match in every folder of the account, not just `folder`: after a mailbox change, stored messages may have come from another folder, or by POP3, which records none. */
  anyFolder?: boolean;
}

/** The start of every retired source key; see {@link MessageRepository.retireSources}. */
export const RETIRED_SOURCE_KEY_PREFIX = "retired:";

async function sourceKeysWithPrefix(ex: Executor, accountId: string, prefix: string): Promise<string[]> {
  // substr() rather than LIKE: folder names may hold '%' and '_', and substr reads the same on both dialects.
  const rows = await ex
    .selectFrom("message_sources")
    .select("source_key")
    .where("account_id", "=", accountId)
    .where(sql<string>`substr(source_key, 1, ${sql.lit(prefix.length)})`, "=", prefix)
    .execute();
  return rows.map((r) => r.source_key.slice(prefix.length));
}

/** Rows per multi-row statement: far below SQLite's and PostgreSQL's bound-parameter limits. */
const INSERT_CHUNK = 200;

async function insertTakenChunk(t: Executor, rows: readonly TakenMessage[]): Promise<InsertTakenResult> {
  if (rows.length === 0) return { inserted: [], duplicates: 0 };
  const keysByAccount = new Map<string, string[]>();
  for (const row of rows) {
    const keys = keysByAccount.get(row.accountId) ?? [];
    keys.push(row.sourceKey);
    keysByAccount.set(row.accountId, keys);
  }
  const known = new Set<string>();
  for (const [accountId, keys] of keysByAccount) {
    const found = await t.selectFrom("message_sources").select("source_key").where("account_id", "=", accountId).where("source_key", "in", keys).execute();
    for (const f of found) known.add(`${accountId}\u0000${f.source_key}`);
  }
  // The first row of a key repeated within the batch wins; the rest are duplicates.
  const fresh: Array<{ id: string; row: TakenMessage }> = [];
  let duplicates = 0;
  for (const row of rows) {
    const key = `${row.accountId}\u0000${row.sourceKey}`;
    if (known.has(key)) {
      duplicates++;
      continue;
    }
    known.add(key);
    fresh.push({ id: newId(), row });
  }
  if (fresh.length === 0) return { inserted: [], duplicates };
  const now = toTimestamp();
  await t
    .insertInto("messages")
    .values(fresh.map(({ id, row }) => ({
      id,
      account_id: row.accountId,
      folder: storableText(row.folder),
      uid_validity: row.uidValidity === null ? null : String(row.uidValidity),
      uid: row.uid,
      uidl: storableText(row.uidl),
      raw_sha256: row.rawSha256,
      size: row.size,
      spool_segment: row.spool?.segment ?? null,
      spool_offset: row.spool?.offset ?? null,
      internal_date: toTimestampOrNull(row.internalDate),
      flags_json: JSON.stringify(row.flags),
      message_id_header: storableText(row.messageIdHeader),
      sent_date: toTimestampOrNull(row.sentDate),
      subject: storableText(row.subject ?? null),
      from_json: null, to_json: null, cc_json: null, bcc_json: null, reply_to_json: null, headers_json: null,
      text_body: null, html_body: null, sanitized_html: null,
      status: "pending" as const,
      parse_error: null,
      stored_at: now,
      processed_at: null,
    })))
    .execute();
  // The ledger rows decide. On PostgreSQL a concurrent writer's uncommitted row with the
  // same key makes this wait for its commit, then skip it; our message row then goes.
  const claimed = await t
    .insertInto("message_sources")
    .values(fresh.map(({ id, row }) => ({ account_id: row.accountId, source_key: row.sourceKey, message_id: id, created_at: now })))
    .onConflict((oc) => oc.columns(["account_id", "source_key"]).doNothing())
    .returning("message_id")
    .execute();
  const won = new Set(claimed.map((c) => c.message_id));
  const lost = fresh.filter(({ id }) => !won.has(id)).map(({ id }) => id);
  if (lost.length > 0) await t.deleteFrom("messages").where("id", "in", lost).execute();
  return { inserted: fresh.filter(({ id }) => won.has(id)).map(({ id }) => id), duplicates: duplicates + lost.length };
}

async function saveParsedItems(
  trx: Executor,
  all: ReadonlyArray<{ messageId: string; parsed: ParsedMessage; attachments: readonly AttachmentInput[] }>,
  onlyPending: boolean,
): Promise<string[]> {
  if (all.length === 0) return [];
  return atomically(trx, async (t) => {
    const now = toTimestamp();
    const items: typeof all[number][] = [];
    for (const item of all) {
      const { messageId, parsed } = item;
      const failed = parsed.parseError !== undefined && parsed.parseError !== null;
      const result = await t
        .updateTable("messages")
        .set({
          ...(parsed.messageIdHeader === undefined ? {} : { message_id_header: storableText(parsed.messageIdHeader) }),
          ...(parsed.sentDate === undefined ? {} : { sent_date: toTimestampOrNull(parsed.sentDate) }),
          subject: storableText(parsed.subject),
          from_json: JSON.stringify(parsed.from),
          to_json: JSON.stringify(parsed.to),
          cc_json: JSON.stringify(parsed.cc),
          bcc_json: JSON.stringify(parsed.bcc),
          reply_to_json: JSON.stringify(parsed.replyTo),
          headers_json: JSON.stringify(parsed.headers),
          text_body: storableText(parsed.textBody),
          html_body: storableText(parsed.htmlBody),
          sanitized_html: storableText(parsed.sanitizedHtml),
          sanitizer_version: parsed.sanitizedHtml === null ? null : (parsed.sanitizerVersion ?? 0),
          status: failed ? "failed" : "parsed",
          parse_error: failed ? storableText(parsed.parseError!) : null,
          processed_at: now,
        })
        .where("id", "=", messageId)
        .$if(onlyPending, (q) => q.where("status", "=", "pending"))
        .executeTakeFirst();
      if (result.numUpdatedRows > 0n) items.push(item);
      else if (!onlyPending) throw new InboundError("MESSAGE_NOT_FOUND", { message: `No stored message has the id "${messageId}".` });
    }
    // Re-parsing replaces the attachment list rather than appending to it.
    const ids = items.map((i) => i.messageId);
    for (let from = 0; from < ids.length; from += INSERT_CHUNK) {
      await t.deleteFrom("attachments").where("message_id", "in", ids.slice(from, from + INSERT_CHUNK)).execute();
    }
    const rows = items.flatMap(({ messageId, attachments }) =>
      attachments.map((a, position) => ({
        id: a.id ?? newId(),
        message_id: messageId,
        position,
        filename: storableText(a.filename),
        content_type: storableText(a.contentType),
        size: a.size,
        content_id: storableText(a.contentId),
        disposition: storableText(a.disposition),
        sha256: a.sha256,
        created_at: now,
      })),
    );
    for (let from = 0; from < rows.length; from += INSERT_CHUNK) {
      await t.insertInto("attachments").values(rows.slice(from, from + INSERT_CHUNK)).execute();
    }
    return items.map((i) => i.messageId);
  });
}

/**
 * The message repository over `db`.
 *
 * @example
 * ```ts
 * const messages = createMessageRepository(db);
 * const { inserted, duplicates } = await db.transaction().execute((trx) => messages.insertTaken(trx, taken));
 * ```
 */
export function createMessageRepository(db: Executor): MessageRepository {
  return {
    async storedImapUids(accountId, folder, uidValidity, ex = db) {
      const rest = await sourceKeysWithPrefix(ex, accountId, imapSourceKeyPrefix(folder, uidValidity));
      return new Set(rest.map(Number));
    },

    async storedUidls(accountId, ex = db) {
      return new Set(await sourceKeysWithPrefix(ex, accountId, POP3_SOURCE_KEY_PREFIX));
    },

    async storedSizes(accountId, sourceKeys, ex = db) {
      const sizes = new Map<string, number>();
      for (let from = 0; from < sourceKeys.length; from += INSERT_CHUNK) {
        const rows = await ex
          .selectFrom("message_sources")
          .innerJoin("messages", "messages.id", "message_sources.message_id")
          .select(["message_sources.source_key", "messages.size"])
          .where("message_sources.account_id", "=", accountId)
          .where("message_sources.source_key", "in", sourceKeys.slice(from, from + INSERT_CHUNK))
          .execute();
        for (const row of rows) sizes.set(row.source_key, Number(row.size));
      }
      return sizes;
    },

    async insertTaken(trx, rows) {
      return atomically(trx, async (t) => {
        // A few statements per batch rather than three per message: the per-query cost
        // (compile, prepare, round trip) dominated taking a batch.
        const inserted: string[] = [];
        let duplicates = 0;
        for (let from = 0; from < rows.length; from += INSERT_CHUNK) {
          const result = await insertTakenChunk(t, rows.slice(from, from + INSERT_CHUNK));
          inserted.push(...result.inserted);
          duplicates += result.duplicates;
        }
        return { inserted, duplicates };
      });
    },

    async rawLocations(ids, ex = db) {
      const out = new Map<string, RawLocation>();
      for (let from = 0; from < ids.length; from += INSERT_CHUNK) {
        const rows = await ex.selectFrom("messages").select(["id", ...RAW_LOCATION_COLUMNS]).where("id", "in", ids.slice(from, from + INSERT_CHUNK)).execute();
        for (const row of rows) out.set(row.id, toRawLocation(row));
      }
      return out;
    },

    async rawLocation(id, ex = db) {
      const row = await ex.selectFrom("messages").select(RAW_LOCATION_COLUMNS).where("id", "=", id).executeTakeFirst();
      if (row === undefined) throw new InboundError("MESSAGE_NOT_FOUND", { message: `No stored message has the id "${id}".` });
      return toRawLocation(row);
    },

    async spoolSegmentsInUse(segments, ex = db) {
      const out = new Set<string>();
      for (let from = 0; from < segments.length; from += INSERT_CHUNK) {
        const rows = await ex.selectFrom("messages").select("spool_segment").distinct().where("spool_segment", "in", segments.slice(from, from + INSERT_CHUNK)).execute();
        for (const row of rows) if (row.spool_segment !== null) out.add(row.spool_segment);
      }
      return out;
    },

    async findResyncMatch(accountId, folder, probe, ex = db) {
      if (probe.messageIdHeader === null || probe.messageIdHeader === "") return { found: false };
      const sentDate = toTimestampOrNull(probe.sentDate);
      let query = ex
        .selectFrom("messages")
        .select("id")
        .where("account_id", "=", accountId)
        .where("message_id_header", "=", probe.messageIdHeader)
        .where("size", "=", probe.size);
      if (probe.anyFolder !== true) query = folder === null ? query.where("folder", "is", null) : query.where("folder", "=", folder);
      query = sentDate === null ? query.where("sent_date", "is", null) : query.where("sent_date", "=", sentDate);
      const prefix = probe.notLinkedUnder ?? (probe.uidValidity !== undefined && folder !== null ? imapSourceKeyPrefix(folder, probe.uidValidity) : undefined);
      if (prefix !== undefined) {
        query = query.where(({ not, exists, selectFrom }) =>
          not(exists(selectFrom("message_sources")
            .select("message_sources.message_id")
            .whereRef("message_sources.message_id", "=", "messages.id")
            .where(sql<string>`substr(message_sources.source_key, 1, ${sql.lit(prefix.length)})`, "=", prefix))));
      }
      const row = await query.orderBy("id").limit(1).executeTakeFirst();
      return row === undefined ? { found: false } : { found: true, messageId: row.id };
    },

    async retireSources(trx, accountId) {
      const prefix = `${RETIRED_SOURCE_KEY_PREFIX}${newId()}:`;
      const result = await trx
        .updateTable("message_sources")
        .set({ source_key: sql<string>`${prefix} || source_key` })
        .where("account_id", "=", accountId)
        .where(sql<string>`substr(source_key, 1, ${sql.lit(RETIRED_SOURCE_KEY_PREFIX.length)})`, "<>", RETIRED_SOURCE_KEY_PREFIX)
        .executeTakeFirst();
      return Number(result.numUpdatedRows);
    },

    async hasRetiredSources(accountId, ex = db) {
      const row = await ex
        .selectFrom("message_sources")
        .select("source_key")
        .where("account_id", "=", accountId)
        .where(sql<string>`substr(source_key, 1, ${sql.lit(RETIRED_SOURCE_KEY_PREFIX.length)})`, "=", RETIRED_SOURCE_KEY_PREFIX)
        .limit(1)
        .executeTakeFirst();
      return row !== undefined;
    },

    async linkSource(trx, accountId, key, messageId) {
      const row = await trx
        .insertInto("message_sources")
        .values({ account_id: accountId, source_key: key, message_id: messageId, created_at: toTimestamp() })
        .onConflict((oc) => oc.columns(["account_id", "source_key"]).doNothing())
        .returning("message_id")
        .executeTakeFirst();
      return { linked: row !== undefined };
    },

    async pendingForProcessing(limit, accountId, ex = db, afterId) {
      let query = ex.selectFrom("messages").select(["id", "account_id", ...RAW_LOCATION_COLUMNS]).where("status", "=", "pending");
      if (accountId !== undefined) query = query.where("account_id", "=", accountId);
      if (afterId !== undefined) query = query.where("id", ">", afterId);
      const rows = await query.orderBy("id").limit(limit).execute();
      return rows.map((r) => ({ id: r.id, accountId: r.account_id, ...toRawLocation(r) }));
    },

    async saveParsed(trx, messageId, parsed, attachments) {
      await saveParsedItems(trx, [{ messageId, parsed, attachments }], false);
    },

    savePendingParsed: (trx, items) => saveParsedItems(trx, items, true),

    async staleSanitized(version, limit, options = {}) {
      let query = db.selectFrom("messages").select(["id", "account_id", "html_body", "sanitizer_version"]).where("sanitizer_version", "<", version);
      if (options.accountId !== undefined) query = query.where("account_id", "=", options.accountId);
      const after = options.after;
      if (after !== undefined) query = query.where((eb) => eb(eb.refTuple("sanitizer_version", "id"), ">", eb.tuple(after.sanitizerVersion, after.id)));
      // In the order of the (sanitizer_version, id) index: no sort of everything still stale per page.
      const rows = await query.orderBy("sanitizer_version").orderBy("id").limit(limit).execute();
      return rows.map((r) => ({ id: r.id, accountId: r.account_id, htmlBody: r.html_body, sanitizerVersion: Number(r.sanitizer_version) }));
    },

    async replaceSanitized(id, fromVersion, sanitizedHtml, version) {
      const result = await db
        .updateTable("messages")
        .set({ sanitized_html: storableText(sanitizedHtml), sanitizer_version: version })
        .where("id", "=", id)
        .where("sanitizer_version", "=", fromVersion)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },

    async list(options = {}, ex = db) {
      const limit = Math.min(Math.max(Math.trunc(options.limit ?? 50), 1), 500);
      let query = ex.selectFrom("messages").select(SUMMARY_COLUMNS);
      if (options.accountId !== undefined) query = query.where("account_id", "=", options.accountId);
      if (options.folder !== undefined) query = query.where("folder", "=", options.folder);
      // Timestamps are ISO text in every column, so coalesce and compare as text on both dialects.
      const messageDate = sql<string>`coalesce(sent_date, internal_date, stored_at)`;
      if (options.since !== undefined) query = query.where(messageDate, ">=", toTimestamp(options.since));
      if (options.until !== undefined) query = query.where(messageDate, "<", toTimestamp(options.until));
      if (options.from) query = query.where(sql<boolean>`lower(from_json) like ${containsPattern(options.from)} escape '!'`);
      if (options.subject) query = query.where(sql<boolean>`lower(subject) like ${containsPattern(options.subject)} escape '!'`);
      if (options.hasAttachments !== undefined) {
        const withAttachments = (eb: ExpressionBuilder<Schema, "messages">) =>
          eb.exists(eb.selectFrom("attachments").select("attachments.id").whereRef("attachments.message_id", "=", "messages.id"));
        query = options.hasAttachments ? query.where((eb) => withAttachments(eb)) : query.where((eb) => eb.not(withAttachments(eb)));
      }
      // Ids are UUIDv7, so id order is storage order and the last id is a stable cursor.
      if (options.cursor) query = query.where("id", "<", options.cursor);
      const rows = await query.orderBy("id", "desc").limit(limit + 1).execute();
      const page = rows.slice(0, limit);
      return { items: page.map(toSummary), nextCursor: rows.length > limit ? page[page.length - 1].id : null };
    },

    async get(id, ex = db) {
      const row = await ex.selectFrom("messages").selectAll().where("id", "=", id).executeTakeFirst();
      if (row === undefined) throw new InboundError("MESSAGE_NOT_FOUND", { message: `No stored message has the id "${id}".` });
      return toRecord(row);
    },

    async attachments(messageId, ex = db) {
      const rows = await ex.selectFrom("attachments").selectAll().where("message_id", "=", messageId).orderBy("position").execute();
      return rows.map(toAttachment);
    },

    async getAttachment(id, ex = db) {
      const row = await ex.selectFrom("attachments").selectAll().where("id", "=", id).executeTakeFirst();
      if (row === undefined) throw new InboundError("ATTACHMENT_NOT_FOUND", { message: `No stored attachment has the id "${id}".` });
      return toAttachment(row);
    },

    async countByAccount(accountId, ex = db) {
      const row = await ex
        .selectFrom("messages")
        .select((eb) => eb.fn.countAll<number>().as("n"))
        .where("account_id", "=", accountId)
        .executeTakeFirstOrThrow();
      return Number(row.n);
    },

    async countsByAccount(ex = db) {
      const rows = await ex.selectFrom("messages").select(["account_id", (eb) => eb.fn.countAll<number>().as("n")]).groupBy("account_id").execute();
      return new Map(rows.map((r) => [r.account_id, Number(r.n)]));
    },
  };
}
