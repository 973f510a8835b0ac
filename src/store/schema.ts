import type { ColumnType } from "kysely";

/*
 * Conventions, the same on SQLite and PostgreSQL:
 * - ids are text UUIDv7 from `newId()`, so ordering by id orders by creation time;
 * - timestamps are ISO-8601 text in UTC with milliseconds (`2025-01-31T12:00:00.000Z`),
 *   which sort as text and read the same in both databases;
 * - JSON is stored as text in `*_json` columns and parsed by the repositories;
 * - sizes and UIDs are 64-bit integers (an IMAP UID can exceed 2^31), read back as numbers.
 */

/** Lifecycle state of an account, as shown to users. */
export type AccountState = "idle" | "running" | "watching" | "backoff" | "error" | "disabled" | (string & {});

/** `accounts`: one mailbox Inbound takes mail from. */
export interface AccountsTable {
  id: string;
  name: string;
  protocol: string;
  settings_json: string;
  password_enc: string;
  state: ColumnType<string, string | undefined, string>;
  state_detail: string | null;
  last_run_at: string | null;
  last_error: string | null;
  created_at: string;
  updated_at: string;
}

/** Parse state of a stored message. */
export type MessageStatus = "pending" | "parsed" | "failed";

/** `messages`: one stored message, whatever number of sources point at it. */
export interface MessagesTable {
  id: string;
  account_id: string;
  folder: string | null;
  uid_validity: string | null;
  uid: number | null;
  uidl: string | null;
  raw_sha256: string;
  size: number;
  internal_date: string | null;
  flags_json: string;
  message_id_header: string | null;
  sent_date: string | null;
  subject: string | null;
  from_json: string | null;
  to_json: string | null;
  cc_json: string | null;
  bcc_json: string | null;
  reply_to_json: string | null;
  headers_json: string | null;
  text_body: string | null;
  html_body: string | null;
  sanitized_html: string | null;
  /** The sanitizer version that made `sanitized_html`; `null` when there is none, 0 when made before versions were kept. */
  sanitizer_version: number | null;
  status: MessageStatus;
  parse_error: string | null;
  stored_at: string;
  processed_at: string | null;
  /** Spool segment holding the raw bytes until the parser copied them to their blob; `null` after. */
  spool_segment: string | null;
  /** Byte offset in `spool_segment` (a string from PostgreSQL's bigint). */
  spool_offset: string | number | null;
}

/** `message_sources`: the identity ledger; UNIQUE(account_id, source_key) is what makes "never twice" hold. */
export interface MessageSourcesTable {
  account_id: string;
  source_key: string;
  message_id: string;
  created_at: string;
}

/** `checkpoints`: the highest UID stored per (account, folder) under one UIDVALIDITY. */
export interface CheckpointsTable {
  account_id: string;
  folder: string;
  uid_validity: string;
  last_uid: number;
  updated_at: string;
}

/** `attachments`: one attachment of a parsed message; bytes live in the blob store under `sha256`. */
export interface AttachmentsTable {
  id: string;
  message_id: string;
  position: number;
  filename: string | null;
  content_type: string;
  size: number;
  content_id: string | null;
  disposition: "inline" | "attachment";
  sha256: string;
  created_at: string;
}

/** Severity of an event. */
export type EventLevel = "info" | "warn" | "error";

/** `events`: the per-account log (state changes, errors, `mailbox.reset`). */
export interface EventsTable {
  id: string;
  account_id: string | null;
  type: string;
  level: EventLevel;
  message: string;
  data_json: string;
  created_at: string;
}

/** `outbox`: events for handlers and webhooks, written in the same transaction as what they report. */
export interface OutboxTable {
  id: string;
  account_id: string | null;
  type: string;
  payload_json: string;
  created_at: string;
  /** When delivery fanned the event out to its consumers (0003); `null` until then. */
  dispatched_at: ColumnType<string | null, string | null | undefined, string | null>;
  /** The dispatcher's position when it took the event (0010): commit order, where ids are only clock order; `null` until then. */
  dispatch_seq: ColumnType<number | null, number | null | undefined, number | null>;
}

/** `webhooks`: HTTP targets for events (0003). */
export interface WebhooksTable {
  id: string;
  url: string;
  /** JSON array of event types, `["*"]` for all. */
  events_json: string;
  /** Sealed by the secret box; never leaves the repository except to be opened. */
  secret_enc: string;
  description: string | null;
  /** 1 or 0. */
  enabled: number;
  /** Why the target was turned off (e.g. it answered 410 Gone); `null` when enabled by hand. */
  disabled_reason: string | null;
  created_at: string;
  updated_at: string;
}

/** `delivery_handlers`: in-process handler names that have been registered, so their deliveries wait for them (0003). */
export interface DeliveryHandlersTable {
  name: string;
  events_json: string;
  /**
   * An id minted at first registration: only events with a greater id are fanned out to it.
   * `''` for a `fromBeginning` handler, which takes every event dispatched after it (0010).
   */
  start_after: string;
  created_at: string;
  last_seen_at: string;
  /** 1 from a `fromBeginning` registration until its backfill finished (see migration 0009). */
  backfill_pending: ColumnType<number, number | undefined, number>;
  /** For a `fromBeginning` handler: its backfill covers events dispatched at positions up to this one (0010). */
  backfill_to_seq: ColumnType<number | null, number | null | undefined, number | null>;
}

/** Where one delivery stands. `retrying` blocks its account's later events for the same consumer; `parked` is the dead letter. */
export type DeliveryStatus = "pending" | "retrying" | "succeeded" | "parked";

/** `deliveries`: one event for one consumer (`webhook:<id>` or `handler:<name>`), with its attempts (0003). */
export interface DeliveriesTable {
  id: string;
  consumer: string;
  event_id: string;
  event_type: string;
  /** The event's account id, or `""` for service-wide events; the ordering lane. */
  account_key: string;
  /** Place in the lane (0010): the dispatcher's position for the event, or the tail at a replay. The lane's head is its lowest open one. */
  lane_seq: number;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: string;
  last_error: string | null;
  /** HTTP status of the last webhook attempt. */
  last_status: number | null;
  lease_owner: string | null;
  lease_expires_at: string | null;
  created_at: string;
  updated_at: string;
  completed_at: string | null;
}

/** `delivery_dispatch`: a single row whose lock serialises fan-out across processes (0003). */
export interface DeliveryDispatchTable {
  id: number;
  dispatched_at: string | null;
  /** The last lane position handed out (0010); taken under this row's lock, so positions follow dispatch order. */
  last_seq: ColumnType<number, number | undefined, number>;
}

/**
 * The whole database as Kysely sees it.
 *
 * @example
 * ```ts
 * const rows = await db.selectFrom("accounts").select(["id", "name"]).execute();
 * ```
 */
/** Who holds an account's lease (retrieval run, or watch), until when (ISO-8601 UTC). */
export interface RunLeasesTable {
  account_id: string;
  owner: string;
  expires_at: string;
}

/** `subscriptions`: accounts whose mailbox is watched; `requested_at` moves on every subscribe. */
export interface SubscriptionsTable {
  account_id: string;
  created_at: string;
  requested_at: string;
}

/** Role of a user or API token: `admin` may do everything, `viewer` only reads. */
export type UserRole = "admin" | "viewer";

/** `users`: people who sign in to the API and admin page; `password_hash` is scrypt (see server/auth). */
export interface UsersTable {
  id: string;
  username: string;
  password_hash: string;
  role: UserRole;
  created_at: string;
  updated_at: string;
}

/** `sessions`: browser sessions; the cookie value is never stored, only its SHA-256 (`id_hash`). */
export interface SessionsTable {
  id_hash: string;
  user_id: string;
  csrf_token: string;
  created_at: string;
  last_seen_at: string;
  expires_at: string;
}

/** `api_tokens`: bearer tokens for scripts; only the SHA-256 of the token is stored. */
export interface ApiTokensTable {
  id: string;
  name: string;
  token_hash: string;
  role: UserRole;
  created_by: string | null;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

/** `store_identity` (0008): one row, the database's random id; the raw spool's owner marker names it. */
export interface StoreIdentityTable {
  /** Always 1, so the table holds one row. */
  singleton: number;
  id: string;
  created_at: string;
}

export interface Schema {
  accounts: AccountsTable;
  messages: MessagesTable;
  message_sources: MessageSourcesTable;
  checkpoints: CheckpointsTable;
  attachments: AttachmentsTable;
  events: EventsTable;
  outbox: OutboxTable;
  run_leases: RunLeasesTable;
  watch_leases: RunLeasesTable;
  webhooks: WebhooksTable;
  delivery_handlers: DeliveryHandlersTable;
  deliveries: DeliveriesTable;
  delivery_dispatch: DeliveryDispatchTable;
  subscriptions: SubscriptionsTable;
  users: UsersTable;
  sessions: SessionsTable;
  api_tokens: ApiTokensTable;
  store_identity: StoreIdentityTable;
}
