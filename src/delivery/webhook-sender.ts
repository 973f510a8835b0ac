import { signWebhook } from "./webhook-signature.js";

/** User-Agent of webhook requests. */
export const WEBHOOK_USER_AGENT = "inbound-mail-webhooks/1";

/** How one POST went. `gone` (410) means the receiver asks never to be called again. */
export type WebhookAttempt =
  | { ok: true; status: number; durationMs: number }
  | { ok: false; gone: boolean; status: number | null; error: string; durationMs: number };

/** Options for {@link sendWebhook}. */
export interface SendWebhookOptions {
  url: string;
  secret: string;
  eventId: string;
  eventType: string;
  body: string;
  /** Per-request bound, default 10 s. */
  timeoutMs?: number;
  /** Aborts the request (service shutdown). */
  signal?: AbortSignal;
  attempt?: number;
}

/** Response bytes read for an error message; the rest is discarded. */
const ERROR_SNIPPET = 200;

/**
 * POST one signed webhook and classify the answer: 2xx is success; 3xx
 * (never followed), other statuses, network errors and timeouts are
 * failures to retry; 410 is `gone`. Never throws.
 *
 * @example
 * ```ts
 * const result = await sendWebhook({ url, secret, eventId, eventType: "message.received", body: JSON.stringify(payload) });
 * if (!result.ok) console.log(result.status, result.error);
 * ```
 */
export async function sendWebhook(options: SendWebhookOptions): Promise<WebhookAttempt> {
  const started = Date.now();
  const timestamp = Math.floor(started / 1000);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const signals = [AbortSignal.timeout(timeoutMs), ...(options.signal ? [options.signal] : [])];
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "user-agent": WEBHOOK_USER_AGENT,
    "inbound-event-id": options.eventId,
    "inbound-event-type": options.eventType,
    "inbound-timestamp": String(timestamp),
    "inbound-signature": signWebhook(options.secret, timestamp, options.body),
  };
  if (options.attempt !== undefined) headers["inbound-attempt"] = String(options.attempt);
  let response: Response;
  try {
    response = await fetch(options.url, { method: "POST", headers, body: options.body, redirect: "manual", signal: AbortSignal.any(signals) });
  } catch (error) {
    const durationMs = Date.now() - started;
    const name = (error as Error).name;
    const message =
      name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : name === "AbortError" ? "aborted (shutting down)" : describeNetworkError(error);
    return { ok: false, gone: false, status: null, error: message, durationMs };
  }
  const status = response.status;
  if (status >= 200 && status < 300) {
    await response.body?.cancel().catch(() => undefined);
    return { ok: true, status, durationMs: Date.now() - started };
  }
  let snippet = "";
  try {
    snippet = (await readSnippet(response)).replace(/\s+/g, " ").trim();
  } catch {
    // The status says enough.
  }
  const durationMs = Date.now() - started;
  if (status >= 300 && status < 400) {
    const location = response.headers.get("location");
    return { ok: false, gone: false, status, error: `${status} redirect${location ? ` to ${location}` : ""} not followed; configure the final URL`, durationMs };
  }
  return { ok: false, gone: status === 410, status, error: `${status} ${response.statusText}${snippet ? `: ${snippet}` : ""}`.trim(), durationMs };
}

async function readSnippet(response: Response): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < ERROR_SNIPPET) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).toString("utf8").slice(0, ERROR_SNIPPET);
}

function describeNetworkError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code) return `${cause.code}${cause.message ? `: ${cause.message}` : ""}`;
  return error instanceof Error ? error.message : String(error);
}
