import { sql, type Selectable } from "kysely";
import { InboundError } from "../core/inbound-error.js";
import { newId } from "../core/ids.js";
import { createDatabaseClock, type DatabaseClock } from "./database-clock.js";
import { lockDispatch } from "./dispatch-lock.js";
import { atomically, type Executor } from "./executor.js";
import { selectDueLaneHeads } from "./lane-heads.js";
import { lastLanePosition, takeLanePositions } from "./lane-positions.js";
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
   * first time. With `fromBeginning` on that first time, the handler takes every event
   * dispatched from then on and is owed a backfill of those dispatched before, up to lane
   * position `backfillUpTo`: `backfillPending` stays true, on every registration, until
   * {@link finishBackfill} says it is done.
   */
  registerHandler(name: string, events: readonly string[], options?: { fromBeginning?: boolean }): Promise<HandlerRegistration>;
  /** The handler's backfill is done (see {@link registerHandler}). */
  finishBackfill(name: string): Promise<void>;
  /** Forget a handler name and drop every delivery queued for it. */
  forgetHandler(name: string): Promise<void>;
  /**
   * Queue every outbox event dispatched at a position up to `upTo` and matching `filter` for
   * its consumer (a new handler with `fromBeginning`), each at the position it was dispatched
   * at, so the consumer's lanes have the order every other consumer's have and come before
   * what was dispatched since. A page per transaction; stops between pages once `signal` aborts.
   */
  backfill(filter: ConsumerFilter, upTo: number, signal?: AbortSignal): Promise<number>;
  /**
   * Fan out up to `limit` undispatched outbox events, in id order, to every
   * webhook and registered handler whose filter matches, in one transaction,
   * giving each event the next lane position. Returns how many outbox events it took.
   */
  dispatch(limit: number): Promise<number>;
  /**
   * Deliveries whose turn has come: first open one of their (consumer, account) lane by
   * position, due, not leased, at `now` (on the database's clock; default: now); oldest
   * position first. Costs about two index probes per lane, not a read of every open delivery.
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
  /**
   * Make a delivery pending again, due now, attempts reset. A finished one (parked, succeeded)
   * goes to the back of its lane; an open one keeps its place. Throws DELIVERY_NOT_FOUND.
   */
  replay(id: string): Promise<DeliveryRecord>;
}

/** What {@link DeliveryRepository.registerHandler} found or made. */
export interface HandlerRegistration {
  created: boolean;
  /** Events with a greater id are fanned out to it; `''` (all) for a `fromBeginning` handler. */
  startAfter: string;
  backfillPending: boolean;
  /** The last lane position its backfill covers (0 when none is owed). */
  backfillUpTo: number;
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
/** Rows per INSERT; 14 columns each stays far below SQLite's bound-parameter limit. */
const INSERT_CHUNK = 500;

interface NewDelivery {
  consumer: string;
  eventId: string;
  eventType: string;
  accountId: string | null;
  /** Its place in the lane (see lane-positions.ts). */
  laneSeq: number;
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
      lane_seq: r.laneSeq,
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
 * Mark `ids` (sorted) dispatched at `now`, the i-th at position `first + i`: its
 * position is kept for a later `fromBeginning` backfill. One UPDATE per chunk,
 * numbering the chunk in SQL rather than one statement per event.
 */
async function markDispatched(trx: Executor, ids: readonly string[], first: number, now: string): Promise<void> {
  for (let i = 0; i < ids.length; i += INSERT_CHUNK) {
    const chunk = ids.slice(i, i + INSERT_CHUNK);
    await trx
      .updateTable("outbox")
      .from((eb) =>
        eb
          .selectFrom("outbox as b")
          .select(["b.id", sql<number>`row_number() over (order by b.id)`.as("n")])
          .where("b.id", "in", chunk)
          .as("r"),
      )
      .set({ dispatched_at: now, dispatch_seq: sql<number>`${first + i - 1} + r.n` })
      .whereRef("outbox.id", "=", "r.id")
      .execute();
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

  const findHandler = (trx: Executor, name: string) =>
    trx.selectFrom("delivery_handlers").select(["start_after", "backfill_pending", "backfill_to_seq"]).where("name", "=", name).executeTakeFirst();

  return {
    async registerHandler(name, events, options = {}) {
      return atomically(db, async (trx) => {
        const now = stamp();
        let existing = await findHandler(trx, name);
        if (existing === undefined) {
          // A new name starts under the dispatch lock: no dispatch is then half done, so every event
          // was either dispatched before (position <= backfillUpTo) or will be with this handler known.
          await lockDispatch(trx);
          existing = await findHandler(trx, name);
        }
        if (existing !== undefined) {
          await trx.updateTable("delivery_handlers").set({ events_json: JSON.stringify(events), last_seen_at: now }).where("name", "=", name).execute();
          const backfillPending = Number(existing.backfill_pending) === 1;
          return { created: false, startAfter: existing.start_after, backfillPending, backfillUpTo: backfillPending ? Number(existing.backfill_to_seq ?? 0) : 0 };
        }
        const fromBeginning = options.fromBeginning === true;
        // From the beginning: every event dispatched from now on, plus a backfill of those dispatched
        // before, by position rather than by an id, which another machine's clock or a late commit can put on either side.
        const startAfter = fromBeginning ? "" : newId();
        const backfillUpTo = fromBeginning ? await lastLanePosition(trx) : 0;
        await trx
          .insertInto("delivery_handlers")
          .values({ name, events_json: JSON.stringify(events), start_after: startAfter, created_at: now, last_seen_at: now, backfill_pending: fromBeginning ? 1 : 0, backfill_to_seq: fromBeginning ? backfillUpTo : null })
          .execute();
        return { created: true, startAfter, backfillPending: fromBeginning, backfillUpTo };
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
      let after = 0;
      let total = 0;
      while (signal?.aborted !== true) {
        let query = db.selectFrom("outbox").select(["id", "account_id", "type", "dispatch_seq"]).where("dispatch_seq", ">", after).where("dispatch_seq", "<=", upTo);
        if (!filter.events.includes("*")) query = query.where("type", "in", [...filter.events]);
        const rows = await query.orderBy("dispatch_seq").limit(INSERT_CHUNK).execute();
        if (rows.length === 0) return total;
        // At the event's own position: below anything dispatched since, in the order other consumers got it.
        const deliveries = rows.map((r) => ({ consumer: filter.consumer, eventId: r.id, eventType: r.type, accountId: r.account_id, laneSeq: Number(r.dispatch_seq) }));
        await atomically(db, (trx) => insertDeliveries(trx, deliveries, clock));
        total += rows.length;
        after = Number(rows[rows.length - 1].dispatch_seq);
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
        // other (SQLite writers are serialised anyway), and this one sees only committed events:
        // the positions it hands out follow commit order across batches, id order within one.
        await trx.updateTable("delivery_dispatch").set({ dispatched_at: now }).where("id", "=", 1).execute();
        const events = await trx.selectFrom("outbox").select(["id", "account_id", "type"]).where("dispatched_at", "is", null).orderBy("id").limit(limit).execute();
        if (events.length === 0) return 0;
        const first = await takeLanePositions(trx, events.length);
        // Disabled webhooks too: their rows wait (only enabled targets are claimed) until they are enabled again.
        const webhooks = await trx.selectFrom("webhooks").select(["id", "events_json"]).execute();
        const handlers = await trx.selectFrom("delivery_handlers").select(["name", "events_json", "start_after"]).execute();
        // A consumer takes events stored after it came to be: ids are UUIDv7, so a webhook's own id marks its creation.
        const consumers: Array<ConsumerFilter & { startAfter: string }> = [
          ...webhooks.map((w) => ({ consumer: `webhook:${w.id}`, events: JSON.parse(w.events_json) as string[], startAfter: w.id })),
          ...handlers.map((h) => ({ consumer: `handler:${h.name}`, events: JSON.parse(h.events_json) as string[], startAfter: h.start_after })),
        ];
        const rows: NewDelivery[] = [];
        for (const [i, event] of events.entries()) {
          for (const c of consumers) {
            if (event.id > c.startAfter && acceptsEvent(c.events, event.type)) rows.push({ consumer: c.consumer, eventId: event.id, eventType: event.type, accountId: event.account_id, laneSeq: first + i });
          }
        }
        await insertDeliveries(trx, rows, clock);
        await markDispatched(trx, events.map((e) => e.id), first, now);
        return events.length;
      });
    },

    async due(consumers, limit, now = new Date(clock.now())) {
      if (consumers.length === 0 || limit <= 0) return [];
      // Only a lane's head may go: its first open delivery by position.
      const rows = await selectDueLaneHeads(db, [...new Set(consumers)], toTimestamp(now), limit);
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
      const result = await atomically(db, async (trx) => {
        // A finished delivery goes to the back of its lane, as if dispatched now: back at its old
        // place it would become the head beside the one being attempted, and jump the lane's queue.
        const tail = await takeLanePositions(trx, 1);
        return trx
          .updateTable("deliveries")
          .set((eb) => ({
            status: "pending",
            attempts: 0,
            next_attempt_at: now,
            completed_at: null,
            lease_owner: null,
            lease_expires_at: null,
            updated_at: now,
            lane_seq: eb.case().when("status", "in", OPEN).then(eb.ref("lane_seq")).else(tail).end(),
          }))
          .where("id", "=", id)
          // Not while an attempt holds it: that attempt's outcome would be lost and a second one would run beside it.
          .where((eb) => eb.or([eb("lease_owner", "is", null), eb("lease_expires_at", "<", now)]))
          .executeTakeFirst();
      });
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
