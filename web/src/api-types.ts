/*
 * The shapes the page reads from /api/v1, as the OpenAPI document
 * (test/server/openapi.golden.json) describes them. Only the fields the page uses.
 */

export type Role = "admin" | "viewer";
export type Protocol = "imap" | "imaps" | "pop3" | "pop3s";
export type Security = "tls" | "starttls" | "none";

export interface Session {
  via: "session" | "token";
  role: Role;
  user: { id: string; username: string; role: Role } | null;
  csrfToken: string | null;
  expiresAt: string | null;
}

/** Every account setting except the password. */
export interface AccountSettings {
  name: string;
  protocol: Protocol;
  host: string;
  port: number;
  security: Security;
  tlsVerify: boolean;
  tlsCa: string | null;
  username: string;
  folder: string;
  strategy: "latest" | "oldest";
  limit: number;
  all: boolean;
  batchSize: number;
  timeoutMs: number;
  after: "none" | "delete" | "move";
  moveTo: string | null;
  markSeen: boolean;
  sanitize: boolean;
  inlineImages: boolean;
  enabled: boolean;
  pollIntervalSeconds: number | null;
}

export interface Account extends AccountSettings {
  id: string;
  state: string;
  stateDetail: string | null;
  lastRunAt: string | null;
  lastError: string | null;
  messageCount: number;
  createdAt: string;
  updatedAt: string;
}

export interface RunProgress {
  phase: "connecting" | "planning" | "taking" | "processing" | "done";
  total: number;
  taken: number;
  processed: number;
}

export interface ProblemBody {
  code: string;
  message: string;
  details: Record<string, unknown>;
}

export interface Run {
  id: string;
  accountId: string;
  accountName: string;
  status: "running" | "succeeded" | "failed";
  progress: RunProgress | null;
  summary: { fetched: number; stored: number; duplicates: number; parseErrors: number; postActions: number; durationMs: number; takenMs: number } | null;
  error: ProblemBody | null;
  startedAt: string;
  finishedAt: string | null;
}

export interface WatchState {
  state: "connecting" | "subscribed" | "polling" | "connection_lost" | "retrying" | "failed" | "stopped";
  detail: string | null;
  nextAttemptAt: string | null;
  errorCode: string | null;
  attempt: number;
  since: string;
}

export interface SubscriptionStatus {
  subscribed: boolean;
  watch: WatchState | null;
}

export interface AccountState {
  accountId: string;
  state: string;
  stateDetail: string | null;
  lastRunAt: string | null;
  lastError: string | null;
  enabled: boolean;
  subscription: SubscriptionStatus | null;
  run: Run | null;
}

export interface AccountTestResult {
  ok: boolean;
  summary: string;
  protocol?: string;
  folders?: string[];
  messages?: number;
  error?: ProblemBody;
}

export interface Folder {
  path: string;
  name: string;
  delimiter: string;
  specialUse: string | null;
  subscribed: boolean;
}

export interface Address {
  name: string;
  address: string;
}

export interface MessageSummary {
  id: string;
  accountId: string;
  folder: string | null;
  size: number;
  internalDate: string | null;
  flags: string[];
  sentDate: string | null;
  subject: string | null;
  from: Address[] | null;
  to: Address[] | null;
  status: "pending" | "parsed" | "failed";
  parseError: string | null;
  storedAt: string;
}

export interface Attachment {
  id: string;
  messageId: string;
  position: number;
  filename: string | null;
  contentType: string;
  size: number;
  contentId: string | null;
  disposition: "inline" | "attachment";
}

export interface Message extends MessageSummary {
  cc: Address[] | null;
  bcc: Address[] | null;
  replyTo: Address[] | null;
  headers: { key: string; line: string }[] | null;
  textBody: string | null;
  hasHtml: boolean;
  messageIdHeader: string | null;
  attachments: Attachment[];
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface Webhook {
  id: string;
  url: string;
  events: string[];
  description: string | null;
  enabled: boolean;
  disabledReason: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface WebhookTestResult {
  ok: boolean;
  status: number | null;
  durationMs: number;
  error: string | null;
}

export interface Delivery {
  id: string;
  consumer: string;
  eventId: string;
  eventType: string;
  accountId: string | null;
  status: "pending" | "retrying" | "succeeded" | "parked";
  attempts: number;
  nextAttemptAt: string | null;
  lastError: string | null;
  lastStatus: number | null;
  createdAt: string;
  updatedAt: string;
  completedAt: string | null;
}

/** One live update from GET /events/stream. */
export interface LiveEvent {
  type: string;
  accountId: string | null;
  data: Record<string, unknown>;
  at: string;
}
