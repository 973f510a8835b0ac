import { newId } from "../core/ids.js";
import type { Executor } from "./executor.js";
import type { EventLevel } from "./schema.js";
import { storableText } from "./storable-text.js";
import { toTimestamp } from "./timestamp.js";

/** An entry for the per-account log. */
export interface EventInput {
  /** `null` for events about the whole service. */
  accountId: string | null;
  /** Dotted name, e.g. `account.state`, `fetch.failed`, `mailbox.reset`. */
  type: string;
  level: EventLevel;
  message: string;
  data?: Record<string, unknown>;
}

/** A logged event. */
export interface EventRecord {
  id: string;
  accountId: string | null;
  type: string;
  level: EventLevel;
  message: string;
  data: Record<string, unknown>;
  createdAt: string;
}

/** Options for {@link EventRepository.list}. */
export interface ListEventsOptions {
  accountId?: string;
  /** 1..1000, default 100. */
  limit?: number;
}

/** The event log. */
export interface EventRepository {
  /** Append to the log, inside `trx` when given so the event commits with what it reports. */
  append(event: EventInput): Promise<EventRecord>;
  append(trx: Executor, event: EventInput): Promise<EventRecord>;
  /** Newest first. */
  list(options?: ListEventsOptions, executor?: Executor): Promise<EventRecord[]>;
}

/**
 * The event repository over `db`.
 *
 * @example
 * ```ts
 * const events = createEventRepository(db);
 * await events.append(trx, { accountId, type: "mailbox.reset", level: "warn", message: "UIDVALIDITY changed", data: { from, to } });
 * ```
 */
export function createEventRepository(db: Executor): EventRepository {
  async function append(a: Executor | EventInput, b?: EventInput): Promise<EventRecord> {
    const [ex, event] = b === undefined ? [db, a as EventInput] : [a as Executor, b];
    const record: EventRecord = {
      id: newId(),
      accountId: event.accountId,
      type: event.type,
      level: event.level,
      message: storableText(event.message),
      data: event.data ?? {},
      createdAt: toTimestamp(),
    };
    await ex
      .insertInto("events")
      .values({
        id: record.id,
        account_id: record.accountId,
        type: record.type,
        level: record.level,
        message: record.message,
        data_json: JSON.stringify(record.data),
        created_at: record.createdAt,
      })
      .execute();
    return record;
  }

  return {
    append,
    async list(options = {}, ex = db) {
      const limit = Math.min(Math.max(Math.trunc(options.limit ?? 100), 1), 1000);
      let query = ex.selectFrom("events").selectAll();
      if (options.accountId !== undefined) query = query.where("account_id", "=", options.accountId);
      const rows = await query.orderBy("id", "desc").limit(limit).execute();
      return rows.map((r) => ({
        id: r.id,
        accountId: r.account_id,
        type: r.type,
        level: r.level,
        message: r.message,
        data: JSON.parse(r.data_json) as Record<string, unknown>,
        createdAt: r.created_at,
      }));
    },
  };
}
export { appendOutbox, type OutboxInput } from "./append-outbox.js";
