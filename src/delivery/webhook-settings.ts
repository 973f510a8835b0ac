import { randomBytes } from "node:crypto";
import type { FieldProblem } from "../core/account-settings.js";
import { InboundError } from "../core/inbound-error.js";

/** Every event type Inbound writes to its outbox. `*` in a filter means all of them, and any added later. */
export const EVENT_TYPES = ["message.received", "mailbox.reset", "account.state_changed", "retrieval.completed", "retrieval.failed"] as const;

/** An event type from {@link EVENT_TYPES}, or one added later. */
export type EventType = (typeof EVENT_TYPES)[number] | (string & {});

/** Bounds of a user-given webhook secret, in characters; the API schema uses the same. */
export const WEBHOOK_SECRET_MIN_LENGTH = 16;
export const WEBHOOK_SECRET_MAX_LENGTH = 512;

/** What a user gives to create a webhook. */
export interface WebhookInput {
  /** http:// or https:// only. */
  url: string;
  /** Event types to receive; default `["*"]`. */
  events?: string[];
  /** Shared secret for the signature, 16 to 512 characters; generated when absent. */
  secret?: string;
  description?: string | null;
  /** Default true. */
  enabled?: boolean;
}

/** A change to a webhook. Setting `enabled: true` also clears an automatic disable (after 410 Gone). */
export type WebhookUpdate = Partial<WebhookInput>;

/** A validated webhook input. */
export interface WebhookSettings {
  url: string;
  events: string[];
  secret: string | undefined;
  description: string | null | undefined;
  enabled: boolean | undefined;
}

/**
 * A new webhook secret: `whsec_` and 32 random bytes, base64url.
 *
 * @example
 * ```ts
 * generateWebhookSecret(); // "whsec_Q2x1..."
 * ```
 */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString("base64url")}`;
}

/**
 * Check a webhook input field by field; throws WEBHOOK_INVALID naming every
 * wrong field (`url: must start with http:// or https://`). With `partial`
 * (an update), absent fields are not required.
 *
 * @example
 * ```ts
 * const settings = parseWebhookInput({ url: "https://app.example.com/hooks/inbound", events: ["message.received"] });
 * ```
 */
export function parseWebhookInput(input: unknown, partial = false): WebhookSettings {
  const problems: FieldProblem[] = [];
  const value = (typeof input === "object" && input !== null ? input : {}) as Record<string, unknown>;
  let url = "";
  if (value.url !== undefined || !partial) {
    if (typeof value.url !== "string" || value.url.trim() === "") problems.push({ field: "url", message: "is required" });
    else {
      try {
        const parsed = new URL(value.url.trim());
        if (parsed.protocol !== "http:" && parsed.protocol !== "https:") problems.push({ field: "url", message: "must start with http:// or https://" });
        else if (parsed.username || parsed.password) problems.push({ field: "url", message: "must not carry a user name or password; the signature authenticates Inbound" });
        else url = parsed.toString();
      } catch {
        problems.push({ field: "url", message: "is not a valid URL" });
      }
    }
  }
  let events = ["*"];
  if (value.events !== undefined) {
    if (!Array.isArray(value.events) || value.events.length === 0) problems.push({ field: "events", message: "must be a non-empty list of event types, or [\"*\"]" });
    else {
      const unknown = value.events.filter((e) => typeof e !== "string" || (e !== "*" && !(EVENT_TYPES as readonly string[]).includes(e)));
      if (unknown.length > 0) problems.push({ field: "events", message: `unknown event type(s) ${unknown.map((e) => JSON.stringify(e)).join(", ")}; use * or some of ${EVENT_TYPES.join(", ")}` });
      else events = value.events.includes("*") ? ["*"] : [...new Set(value.events as string[])];
    }
  }
  if (value.secret !== undefined && (typeof value.secret !== "string" || value.secret.length < WEBHOOK_SECRET_MIN_LENGTH || value.secret.length > WEBHOOK_SECRET_MAX_LENGTH)) {
    problems.push({ field: "secret", message: `must be ${WEBHOOK_SECRET_MIN_LENGTH} to ${WEBHOOK_SECRET_MAX_LENGTH} characters` });
  }
  if (value.description !== undefined && value.description !== null && (typeof value.description !== "string" || value.description.length > 500)) {
    problems.push({ field: "description", message: "must be text of at most 500 characters" });
  }
  if (value.enabled !== undefined && typeof value.enabled !== "boolean") problems.push({ field: "enabled", message: "must be true or false" });
  const known = new Set(["url", "events", "secret", "description", "enabled"]);
  for (const key of Object.keys(value)) if (!known.has(key)) problems.push({ field: key, message: "is not a webhook setting" });
  if (problems.length > 0) {
    throw new InboundError("WEBHOOK_INVALID", {
      message: problems.map((p) => `${p.field}: ${p.message}`).join("; "),
      details: { fields: problems },
    });
  }
  return {
    url,
    events,
    secret: value.secret as string | undefined,
    description: value.description as string | null | undefined,
    enabled: value.enabled as boolean | undefined,
  };
}
