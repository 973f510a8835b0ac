import { z } from "zod";
import { InboundError } from "./inbound-error.js";
import { invalidTypeMessage } from "./validation-words.js";

/** Mail protocols an account can use. `imaps`/`pop3s` are implicit TLS. */
export type Protocol = "imap" | "imaps" | "pop3" | "pop3s";
/** How the connection is protected: implicit TLS, STARTTLS/STLS (required), or none (explicit only). */
export type Security = "tls" | "starttls" | "none";
/** What happens to a message on the server after it is stored. */
export type AfterAction = "none" | "delete" | "move";

/** Default port per protocol and security. */
export function defaultPort(protocol: Protocol, security: Security): number {
  const isImap = protocol === "imap" || protocol === "imaps";
  if (security === "tls") return isImap ? 993 : 995;
  return isImap ? 143 : 110;
}

/** True for `imap` and `imaps`. */
export function isImapProtocol(protocol: Protocol): boolean {
  return protocol === "imap" || protocol === "imaps";
}

const name = z
  .string()
  .min(1, "must not be empty")
  .max(100, "must be at most 100 characters")
  .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]*$/, "may hold letters, digits, '.', '_', '@' and '-', starting with a letter or digit");

/**
 * Every account setting as a user gives it (API body, CLI flags, library call).
 * Omitted settings take their defaults; {@link parseAccountSettings} applies the
 * cross-field rules.
 */
export const accountInputSchema = z.object({
  name,
  protocol: z.enum(["imap", "imaps", "pop3", "pop3s"]),
  host: z.string().min(1, "must not be empty").max(253, "is too long").regex(/^[^\s/]+$/, "must be a host name or address without spaces or slashes"),
  port: z.number().int("must be a whole number").min(1, "must be between 1 and 65535").max(65535, "must be between 1 and 65535").optional(),
  security: z.enum(["tls", "starttls", "none"]).optional(),
  tlsVerify: z.boolean().default(true),
  tlsCa: z.string().includes("-----BEGIN CERTIFICATE-----", { message: "must be PEM text holding a CERTIFICATE" }).nullable().default(null),
  username: z.string().min(1, "must not be empty"),
  password: z.string().min(1, "must not be empty"),
  folder: z.string().min(1, "must not be empty").default("INBOX"),
  strategy: z.enum(["latest", "oldest"]).default("oldest"),
  limit: z.number().int("must be a whole number").min(1, "must be at least 1").max(100_000, "must be at most 100000").default(50),
  all: z.boolean().default(false),
  batchSize: z.number().int("must be a whole number").min(1, "must be at least 1").max(10_000, "must be at most 10000").default(50),
  timeoutMs: z.number().int("must be a whole number").min(1_000, "must be at least 1000 ms").max(600_000, "must be at most 600000 ms").default(30_000),
  after: z.enum(["none", "delete", "move"]).default("none"),
  moveTo: z.string().min(1, "must not be empty").nullable().default(null),
  markSeen: z.boolean().default(false),
  sanitize: z.boolean().default(true),
  inlineImages: z.boolean().default(false),
  enabled: z.boolean().default(true),
  pollIntervalSeconds: z.number().int("must be a whole number").min(10, "must be at least 10 seconds").nullable().default(null),
}).strict();

/** Account settings as given, before defaults. */
export type AccountInput = z.input<typeof accountInputSchema>;

/** A complete, validated account: every default applied, port and security resolved. */
export type AccountSettings = Omit<z.output<typeof accountInputSchema>, "port" | "security"> & {
  port: number;
  security: Security;
};

/** One problem with one field, as reported in CONFIG_INVALID's `details.fields`. */
export interface FieldProblem {
  field: string;
  message: string;
}

function configInvalid(problems: FieldProblem[]): InboundError {
  const text = problems.map((p) => `${p.field}: ${p.message}`).join("; ");
  return new InboundError("CONFIG_INVALID", {
    message: `Invalid account settings: ${text}`,
    details: { fields: problems },
  });
}

function zodProblems(error: z.ZodError, input: unknown): FieldProblem[] {
  const problems = error.issues.map((issue) => {
    if (issue.code === "unrecognized_keys") {
      return { field: issue.keys.join(", "), message: "is not a known setting" };
    }
    const field = issue.path.join(".") || "(settings)";
    let message = issue.message;
    if (issue.code === "invalid_type") {
      message = invalidTypeMessage(issue, input);
    } else if (issue.code === "invalid_value") {
      message = `must be one of ${issue.values.map(String).join(", ")}`;
    }
    return { field, message };
  });
  // One problem per field: the first is the most basic ("must not be empty" before the pattern).
  return problems.filter((p, i) => problems.findIndex((q) => q.field === p.field) === i);
}

/**
 * Validate account settings at the edge. Throws CONFIG_INVALID naming every
 * field that is wrong; never returns a partial result.
 *
 * @example
 * ```ts
 * const settings = parseAccountSettings({ name: "support", protocol: "imaps", host: "mail.example.com", username: "u", password: "p" });
 * settings.port; // 993
 * ```
 */
export function parseAccountSettings(input: unknown): AccountSettings {
  const parsed = accountInputSchema.safeParse(input);
  if (!parsed.success) throw configInvalid(zodProblems(parsed.error, input));
  const value = parsed.data;
  const problems: FieldProblem[] = [];
  const implicitTls = value.protocol === "imaps" || value.protocol === "pop3s";
  const security: Security = value.security ?? (implicitTls ? "tls" : "starttls");
  if (implicitTls && security !== "tls") {
    problems.push({ field: "security", message: `${value.protocol} always uses implicit TLS; use security tls or protocol ${value.protocol.slice(0, -1)}` });
  }
  if (!implicitTls && security === "tls") {
    problems.push({ field: "security", message: `use protocol ${value.protocol}s for implicit TLS` });
  }
  const imap = isImapProtocol(value.protocol);
  if (!imap && value.folder !== "INBOX") {
    problems.push({ field: "folder", message: "POP3 has only the inbox; leave folder as INBOX" });
  }
  if (!imap && value.markSeen) {
    problems.push({ field: "markSeen", message: "POP3 has no seen flag; mark-seen needs IMAP" });
  }
  if (value.after === "move") {
    if (!imap) problems.push({ field: "after", message: "POP3 cannot move messages; use delete or none" });
    else if (value.moveTo === null) problems.push({ field: "moveTo", message: "is required when after is move" });
    else if (value.moveTo === value.folder) problems.push({ field: "moveTo", message: "must differ from the folder messages are fetched from" });
  } else if (value.moveTo !== null) {
    problems.push({ field: "moveTo", message: "is only used when after is move" });
  }
  if (problems.length > 0) throw configInvalid(problems);
  return { ...value, security, port: value.port ?? defaultPort(value.protocol, security) };
}

/**
 * Apply a partial update to existing settings and validate the result as a
 * whole, so a change that breaks a cross-field rule is refused.
 */
export function updateAccountSettings(current: AccountSettings, patch: Record<string, unknown>): AccountSettings {
  const merged: Record<string, unknown> = { ...current, ...patch };
  // A protocol change re-derives port and security unless the patch sets them.
  if ("protocol" in patch && !("port" in patch)) delete merged.port;
  if ("protocol" in patch && !("security" in patch)) delete merged.security;
  return parseAccountSettings(merged);
}
