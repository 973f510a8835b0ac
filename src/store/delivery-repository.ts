import { sql, type Selectable, type SqlBool } from "kysely";
import { InboundError } from "../core/inbound-error.js";
import { newId } from "../core/ids.js";
import { createDatabaseClock, type DatabaseClock } from "./database-clock.js";
import { lockDispatch } from "./dispatch-lock.js";
import { atomically, type Executor } from "./executor.js";
import type { DeliveriesTable, DeliveryStatus } from "./schema.js";
import { toTimestamp } from "./timestamp.js";

/** One event for one consumer, as listed. */
export interface DeliveryRecord {
  id: string;
  /** `webhook:<id>` or `handler:<name>`. */
  consumer: string;
  /** The outbox id: stable across retries and replays; deduplicate on it. */
  eventId: string;
  eventType: string;
  accountId: string | null;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: string;
  lastError: string | null;
  /** HTTP status of the last webhook attempt. */
  lastStatus: number | null;
  createdAt: string;
  updatedAt: string;
  completedAt: string | null;
}

/** A delivery whose turn has come, with its event. */
export interface DueDelivery {
  id: string;
  consumer: string;
  eventId: string;
  eventType: string;
  accountId: string | null;
  /** Attempts made before this one. */
  attempts: number;
  payload: Record<string, unknown>;
  eventCreatedAt: string;
}

/** A consumer and the event types it takes (`*` for all). */
export interface ConsumerFilter {
  consumer: string;
  events: readonly string[];
}

/** Options for {@link DeliveryRepository.list}. */
export interface ListDeliveriesOptions {
  /** Only deliveries that failed at least once and are not done: `retrying` and `parked`. */
  failed?: boolean;
  status?: DeliveryStatus;
  accountId?: string;
  consumer?: string;
  /** 1..500, default 50. */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string | null;
}

/** A page of deliveries, newest first; `nextCursor` is `null` on the last page. */
export interface DeliveryPage {
  items: DeliveryRecord[];
  nextCursor: string | null;
}

/** How an attempt ended, for {@link DeliveryRepository.finish}. */
export type DeliveryOutcome =
  | { status: "succeeded"; httpStatus?: number | null; note?: string | null }
  | { status: "retrying"; error: string; httpStatus?: number | null; nextAttemptAt: Date }
  | { status: "parked"; error: string; httpStatus?: number | null }
  /** Put back untouched (shutdown, target disabled): the attempt does not count. */
  | { status: "released"; error?: string | null; httpStatus?: number | null };

/**
 * Durable delivery state: which consumer still owes which event, in which
 * order, who holds it right now (a lease), and how its attempts went.
 */
export interface DeliveryRepository {
  /**
   * Record an in-process handler name (and the event types it takes). `created` is true the
   * first time. With `fromBeginning` on that first time, the handler is owed a backfill of the
   * events before `startAfter`: `backfillPending` stays true, on every registration, until
   * {@link finishBackfill} says it is done.
   */
  registerHandler(name: string, events: readonly string[], options?: { fromBeginning?: boolean }): Promise<{ created: boolean; startAfter: string; backfillPending: boolean }>;
  /** The handler's backfill is done (see {@link registerHandler}). */
  finishBackfill(name: string): Promise<void>;
  /** Forget a handler name and drop every delivery queued for it. */
  forgetHandler(name: string): Promise<void>;
  /**
   * Queue every outbox event up to `upTo` (an id) matching `filter` for its consumer (a new
   * handler with `fromBeginning`), a page per transaction; stops between pages once `signal` aborts.
   */
  backfill(filter: ConsumerFilter, upTo: string, signal?: AbortSignal): Promise<number>;
  /**
   * Fan out up to `limit` undispatched outbox events, oldest first, to every
   * enabled webhook and registered handler whose filter matches, in one
   * transaction. Returns how many outbox events it took.
   */
  dispatch(limit: number): Promise<number>;
  /**
   * Deliveries whose turn has come: first open one of their (consumer, account) lane, due, not
   * leased, at `now` (on the database's clock; default: now).
   */
  due(consumers: readonly string[], limit: number, now?: Date): Promise<DueDelivery[]>;
  /** Lease a due delivery to `owner` and count the attempt; false when someone else got it first. */
  claim(id: string, owner: string, leaseMs: number): Promise<boolean>;
  /** Extend a held lease; false when it was lost. */
  renew(id: string, owner: string, leaseMs: number): Promise<boolean>;
  /** Record how the attempt ended and drop the lease (only while `owner` holds it). */
  finish(id: string, owner: string, outcome: DeliveryOutcome): Promise<void>;
  /** Owners holding leases right now (to find dead local processes). */
  leaseOwners(): Promise<string[]>;
  /** Drop every lease `owner` holds (its process is gone). */
  releaseOwner(owner: string): Promise<number>;
  list(options?: ListDeliveriesOptions): Promise<DeliveryPage>;
  /** Throws DELIVERY_NOT_FOUND. */
  get(id: string): Promise<DeliveryRecord>;
  /** Make a delivery pending again, due now, attempts reset. Throws DELIVERY_NOT_FOUND. */
  replay(id: string): Promise<DeliveryRecord>;
}

/** True when a consumer taking `events` wants an event of `type`. */
export function acceptsEvent(events: readonly string[], type: string): boolean {
  return events.includes("*") || events.includes(type);
}

function toRecord(r: Selectable<DeliveriesTable>): DeliveryRecord {
  return {
    id: r.id,
    consumer: r.consumer,
    eventId: r.event_id,
    eventType: r.event_type,
    accountId: r.account_key === "" ? null : r.account_key,
    status: r.status,
    attempts: Number(r.attempts),
    nextAttemptAt: r.next_attempt_at,
    lastError: r.last_error,
    lastStatus: r.last_status === null ? null : Number(r.last_status),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    completedAt: r.completed_at,
  };
}

const OPEN: DeliveryStatus[] = ["pending", "retrying"];
/** `status in ('pending', 'retrying')` with literals, so the databases can use the partial lane index. */
const IS_OPEN = sql<SqlBool>`status in ('pending', 'retrying')`;
/** Rows per INSERT; 13 columns each stays far below SQLite's bound-parameter limit. */
const INSERT_CHUNK = 500;

interface NewDelivery {
  consumer: string;
  eventId: string;
  eventType: string;
  accountId: string | null;
}

async function insertDeliveries(trx: Executor, rows: readonly NewDelivery[], clock: DatabaseClock): Promise<void> {
  const now = toTimestamp(clock.now());
  for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
    const values = rows.slice(i, i + INSERT_CHUNK).map((r) => ({
      id: newId(),
      consumer: r.consumer,
      event_id: r.eventId,
      event_type: r.eventType,
      account_key: r.accountId ?? "",
      status: "pending" as const,
      attempts: 0,
      next_attempt_at: now,
      last_error: null,
      last_status: null,
      lease_owner: null,
      lease_expires_at: null,
      created_at: now,
      updated_at: now,
      completed_at: null,
    }));
    await trx.insertInto("deliveries").values(values).onConflict((oc) => oc.columns(["consumer", "event_id"]).doNothing()).execute();
  }
}

/**
 * The delivery repository over `db`. Same SQL on SQLite and PostgreSQL:
 * claims are compare-and-set updates on a lease column, and fan-out is
 * serialised by locking the one `delivery_dispatch` row.
 *
 * @example
 * ```ts
 * const deliveries = createDeliveryRepository(db);
 * await deliveries.dispatch(500);
 * for (const d of await deliveries.due(["webhook:0193..."], 10)) {
 *   if (await deliveries.claim(d.id, owner, 30_000)) { ...; await deliveries.finish(d.id, owner, { status: "succeeded" }); }
 * }
 * ```
 */
export function createDeliveryRepository(db: Executor, clock: DatabaseClock = createDatabaseClock()): DeliveryRepository {
  // Every time here is on the database's clock (see database-clock.ts): leases and due times
  // are compared across every machine that delivers.
  const stamp = () => toTimestamp(clock.now());

  async function get(id: string): Promise<DeliveryRecord> {
    const row = await db.selectFrom("deliveries").selectAll().where("id", "=", id).executeTakeFirst();
    if (!row) throw new InboundError("DELIVERY_NOT_FOUND", { message: `No delivery has the id "${id}"; list them with \`inbound deliveries list\`.`, details: { id } });
    return toRecord(row);
  }

  return {
    async registerHandler(name, events, options = {}) {
      return atomically(db, async (trx) => {
        const now = stamp();
        const existing = await trx.selectFrom("delivery_handlers").select(["start_after", "backfill_pending"]).where("name", "=", name).executeTakeFirst();
        const startAfter = existing?.start_after ?? newId();
        const backfillPending = existing === undefined ? options.fromBeginning === true : Number(existing.backfill_pending) === 1;
        await trx
          .insertInto("delivery_handlers")
          .values({ name, events_json: JSON.stringify(events), start_after: startAfter, created_at: now, last_seen_at: now, backfill_pending: backfillPending ? 1 : 0 })
          .onConflict((oc) => oc.column("name").doUpdateSet({ events_json: JSON.stringify(events), last_seen_at: now }))
          .execute();
        return { created: existing === undefined, startAfter, backfillPending };
      });
    },

    async finishBackfill(name) {
      await db.updateTable("delivery_handlers").set({ backfill_pending: 0 }).where("name", "=", name).execute();
    },

    async forgetHandler(name) {
      await atomically(db, async (trx) => {
        await lockDispatch(trx);
        await trx.deleteFrom("delivery_handlers").where("name", "=", name).execute();
        await trx.deleteFrom("deliveries").where("consumer", "=", `handler:${name}`).execute();
      });
    },

    async backfill(filter, upTo, signal) {
      let after = "";
      let total = 0;
      while (signal?.aborted !== true) {
        let query = db.selectFrom("outbox").select(["id", "account_id", "type"]).where("id", ">", after).where("id", "<=", upTo);
        if (!filter.events.includes("*")) query = query.where("type", "in", [...filter.events]);
        const rows = await query.orderBy("id").limit(INSERT_CHUNK).execute();
        if (rows.length === 0) return total;
        await atomically(db, (trx) => insertDeliveries(trx, rows.map((r) => ({ consumer: filter.consumer, eventId: r.id, eventType: r.type, accountId: r.account_id })), clock));
        total += rows.length;
        after = rows[rows.length - 1].id;
      }
      return total;
    },

    async dispatch(limit) {
      // Most polls find nothing: look before taking the dispatch lock (a write).
      const any = await db.selectFrom("outbox").select("id").where("dispatched_at", "is", null).limit(1).executeTakeFirst();
      if (!any) return 0;
      return atomically(db, async (trx) => {
        const now = stamp();
        // Taking this row's lock first makes dispatchers of several processes run one after the
        // other, so lanes are always filled in outbox order (SQLite writers are serialised anyway).
        await trx.updateTable("delivery_dispatch").set({ dispatched_at: now }).where("id", "=", 1).execute();
        const events = await trx.selectFrom("outbox").select(["id", "account_id", "type"]).where("dispatched_at", "is", null).orderBy("id").limit(limit).execute();
        if (events.length === 0) return 0;
        // Disabled webhooks too: their rows wait (only enabled targets are claimed) until they are enabled again.
        const webhooks = await trx.selectFrom("webhooks").select(["id", "events_json"]).execute();
        const handlers = await trx.selectFrom("delivery_handlers").select(["name", "events_json", "start_after"]).execute();
        // A consumer takes events stored after it came to be: ids are UUIDv7, so a webhook's own id marks its creation.
        const consumers: Array<ConsumerFilter & { startAfter: string }> = [
          ...webhooks.map((w) => ({ consumer: `webhook:${w.id}`, events: JSON.parse(w.events_json) as string[], startAfter: w.id })),
          ...handlers.map((h) => ({ consumer: `handler:${h.name}`, events: JSON.parse(h.events_json) as string[], startAfter: h.start_after })),
        ];
        const rows: NewDelivery[] = [];
        for (const event of events) {
          for (const c of consumers) {
            if (event.id > c.startAfter && acceptsEvent(c.events, event.type)) rows.push({ consumer: c.consumer, eventId: event.id, eventType: event.type, accountId: event.account_id });
          }
        }
        await insertDeliveries(trx, rows, clock);
        const ids = events.map((e) => e.id);
        for (let i = 0; i < ids.length; i += INSERT_CHUNK) {
          await trx.updateTable("outbox").set({ dispatched_at: now }).where("id", "in", ids.slice(i, i + INSERT_CHUNK)).execute();
        }
        return events.length;
      });
    },

    async due(consumers, limit, now = new Date(clock.now())) {
      if (consumers.length === 0 || limit <= 0) return [];
      const at = toTimestamp(now);
      // Only a lane's head may go: the first open delivery per (consumer, account), from the partial index.
      const heads = db
        .selectFrom("deliveries")
        .select(["consumer", "account_key", (eb) => eb.fn.min("event_id").as("head")])
        .where(IS_OPEN)
        .where("consumer", "in", [...consumers])
        .groupBy(["consumer", "account_key"])
        .as("h");
      const rows = await db
        .selectFrom("deliveries as d")
        .innerJoin(heads, (join) => join.onRef("h.consumer", "=", "d.consumer").onRef("h.head", "=", "d.event_id"))
        .leftJoin("outbox as o", "o.id", "d.event_id")
        .select(["d.id", "d.consumer", "d.event_id", "d.event_type", "d.account_key", "d.attempts", "o.payload_json", "o.created_at as event_created_at", "d.created_at"])
        .where("d.status", "in", OPEN)
        .where("d.next_attempt_at", "<=", at)
        .where((eb) => eb.or([eb("d.lease_owner", "is", null), eb("d.lease_expires_at", "<", at)]))
        .orderBy("d.event_id")
        .limit(limit)
        .execute();
      return rows.map((r) => ({
        id: r.id,
        consumer: r.consumer,
        eventId: r.event_id,
        eventType: r.event_type,
        accountId: r.account_key === "" ? null : r.account_key,
        attempts: Number(r.attempts),
        payload: r.payload_json ? (JSON.parse(r.payload_json) as Record<string, unknown>) : {},
        eventCreatedAt: r.event_created_at ?? r.created_at,
      }));
    },

    async claim(id, owner, leaseMs) {
      const now = new Date(clock.now());
      const at = toTimestamp(now);
      const result = await db
        .updateTable("deliveries")
        .set((eb) => ({ lease_owner: owner, lease_expires_at: toTimestamp(now.getTime() + leaseMs), attempts: eb("attempts", "+", 1), updated_at: at }))
        .where("id", "=", id)
        .where("status", "in", OPEN)
        // Due now: a list of due rows may be stale, and a row another process just set to retry later waits.
        .where("next_attempt_at", "<=", at)
        .where((eb) => eb.or([eb("lease_owner", "is", null), eb("lease_expires_at", "<", at)]))
        .executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },

    async renew(id, owner, leaseMs) {
      const result = await db
        .updateTable("deliveries")
        .set({ lease_expires_at: toTimestamp(clock.now() + leaseMs) })
        .where("id", "=", id)
        .where("lease_owner", "=", owner)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },

    async finish(id, owner, outcome) {
      const now = stamp();
      const common = { lease_owner: null, lease_expires_at: null, updated_at: now, last_status: outcome.httpStatus ?? null };
      const query = db.updateTable("deliveries").where("id", "=", id).where("lease_owner", "=", owner);
      switch (outcome.status) {
        case "succeeded":
          await query.set({ ...common, status: "succeeded", completed_at: now, ...(outcome.note ? { last_error: outcome.note } : {}) }).execute();
          return;
        case "retrying":
          await query.set({ ...common, status: "retrying", last_error: outcome.error, next_attempt_at: toTimestamp(clock.fromLocal(outcome.nextAttemptAt.getTime())) }).execute();
          return;
        case "parked":
          await query.set({ ...common, status: "parked", last_error: outcome.error, completed_at: now }).execute();
          return;
        case "released":
          await query
            .set((eb) => ({ ...common, attempts: eb("attempts", "-", 1), ...(outcome.error ? { last_error: outcome.error } : {}) }))
            .execute();
          return;
      }
    },

    async leaseOwners() {
      const rows = await db.selectFrom("deliveries").select("lease_owner").distinct().where("lease_owner", "is not", null).where("status", "in", OPEN).execute();
      return rows.map((r) => r.lease_owner as string);
    },

    async releaseOwner(owner) {
      const result = await db.updateTable("deliveries").set({ lease_owner: null, lease_expires_at: null }).where("lease_owner", "=", owner).executeTakeFirst();
      return Number(result.numUpdatedRows);
    },

    async list(options = {}) {
      const limit = Math.min(Math.max(Math.trunc(options.limit ?? 50), 1), 500);
      let query = db.selectFrom("deliveries").selectAll();
      if (options.failed) query = query.where("status", "in", ["retrying", "parked"]);
      if (options.status !== undefined) query = query.where("status", "=", options.status);
      if (options.accountId !== undefined) query = query.where("account_key", "=", options.accountId);
      if (options.consumer !== undefined) query = query.where("consumer", "=", options.consumer);
      if (options.cursor) query = query.where("id", "<", options.cursor);
      const rows = await query.orderBy("id", "desc").limit(limit + 1).execute();
      const items = rows.slice(0, limit).map(toRecord);
      return { items, nextCursor: rows.length > limit ? items[items.length - 1].id : null };
    },

    get,

    async replay(id) {
      const now = stamp();
      const result = await db
        .updateTable("deliveries")
        .set({ status: "pending", attempts: 0, next_attempt_at: now, completed_at: null, lease_owner: null, lease_expires_at: null, updated_at: now })
        .where("id", "=", id)
        // Not while an attempt holds it: that attempt's outcome would be lost and a second one would run beside it.
        .where((eb) => eb.or([eb("lease_owner", "is", null), eb("lease_expires_at", "<", now)]))
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) {
        await get(id); // DELIVERY_NOT_FOUND when there is none
        throw new InboundError("DELIVERY_BUSY", {
          message: `Delivery ${id} is being attempted right now; replay it once this attempt has ended.`,
          retryable: true,
          details: { id },
        });
      }
      return get(id);
    },
  };
}
