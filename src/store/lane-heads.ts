import { sql, type ExpressionBuilder, type RawBuilder, type Selectable, type SqlBool } from "kysely";
import type { Executor } from "./executor.js";
import type { DeliveriesTable, Schema } from "./schema.js";

/** A lane head whose turn has come, with its event's payload (`null` when the outbox row is gone). */
export type DueLaneHead = Pick<Selectable<DeliveriesTable>, "id" | "consumer" | "event_id" | "event_type" | "account_key" | "lane_seq" | "attempts" | "created_at"> & {
  payload_json: string | null;
  event_created_at: string | null;
};

/** `status in ('pending', 'retrying')` with literals, so both databases see it matches the partial lane index. */
const IS_OPEN = sql<SqlBool>`status in ('pending', 'retrying')`;

/** Consumers walked by one query: SQLite allows 500 terms in a compound SELECT, one per consumer here. */
const CONSUMERS_PER_WALK = 100;

/** The schema as seen inside the walk, where `lanes` is the heads found so far. */
type WithLanes = Schema & { lanes: Pick<DeliveriesTable, "consumer" | "account_key"> };

/** Everything {@link selectDueLaneHeads} needs of a head, carried through the walk so no second lookup is needed. */
const HEAD_COLUMNS = ["d.id", "d.consumer", "d.account_key", "d.lane_seq", "d.event_id", "d.event_type", "d.attempts", "d.next_attempt_at", "d.lease_owner", "d.lease_expires_at", "d.created_at"] as const;

/**
 * The id of the first open delivery of `consumer` in (account, position) order after account
 * `after` (from the start when absent): the head of its next lane, in one probe of the partial index.
 */
function nextHead(eb: ExpressionBuilder<WithLanes, any>, consumer: string | RawBuilder<string>, after?: RawBuilder<string>) {
  let query = eb.selectFrom("deliveries as n").select("n.id").where(IS_OPEN).where("n.consumer", "=", consumer);
  if (after !== undefined) query = query.where("n.account_key", ">", after);
  return query.orderBy("n.account_key").orderBy("n.lane_seq").limit(1);
}

/**
 * Lane heads of `consumers` that are due at `at` and not leased, oldest
 * position first, at most `limit`.
 *
 * A lane is (consumer, account); its head is its open delivery with the
 * lowest `lane_seq`. Grouping every open delivery to find the heads cost
 * time in proportion to open rows (a third of a second a poll at 1 M on
 * PostgreSQL, a minute on SQLite, whose plan went quadratic). This walks
 * the partial lane index instead, a loose index scan written as a recursive
 * CTE that both databases run: per consumer, one index probe past the last
 * lane's account lands on the next lane's head, and one primary-key lookup
 * reads it, so a poll costs two lookups per lane however many deliveries
 * wait in each. Every lane is visited, not only the first `limit`, so heads
 * go oldest first across accounts and no account waits behind the others.
 *
 * @example
 * ```ts
 * const heads = await selectDueLaneHeads(db, ["webhook:0193..."], toTimestamp(now), 32);
 * ```
 */
export async function selectDueLaneHeads(db: Executor, consumers: readonly string[], at: string, limit: number): Promise<DueLaneHead[]> {
  if (consumers.length === 0 || limit <= 0) return [];
  if (consumers.length <= CONSUMERS_PER_WALK) return walkLanes(db, consumers, at, limit);
  const found: DueLaneHead[] = [];
  for (let i = 0; i < consumers.length; i += CONSUMERS_PER_WALK) found.push(...(await walkLanes(db, consumers.slice(i, i + CONSUMERS_PER_WALK), at, limit)));
  return found.sort((x, y) => x.lane_seq - y.lane_seq).slice(0, limit);
}

/** {@link selectDueLaneHeads} for up to {@link CONSUMERS_PER_WALK} consumers, in one query. */
async function walkLanes(db: Executor, consumers: readonly string[], at: string, limit: number): Promise<DueLaneHead[]> {
  const withLanes = db.withRecursive("lanes", (qb) => {
    const [first, ...others] = consumers.map((consumer) =>
      qb
        .selectFrom("deliveries as d")
        .select(HEAD_COLUMNS)
        .where((eb) => eb("d.id", "=", nextHead(eb, consumer))),
    );
    const anchors = others.reduce((union, next) => union.unionAll(next), first);
    return anchors.unionAll(
      qb
        .selectFrom("lanes as l")
        .innerJoin("deliveries as d", (join) => join.on((eb) => eb("d.id", "=", nextHead(eb, sql.ref<string>("l.consumer"), sql.ref<string>("l.account_key")))))
        .select(HEAD_COLUMNS),
    );
  });
  return withLanes
    .selectFrom((qb) =>
      qb
        .selectFrom("lanes as h")
        .selectAll()
        .where("h.next_attempt_at", "<=", at)
        .where((eb) => eb.or([eb("h.lease_owner", "is", null), eb("h.lease_expires_at", "<", at)]))
        .orderBy("h.lane_seq")
        .limit(limit)
        .as("d"),
    )
    // Only the chosen heads' events are read.
    .leftJoin("outbox as o", "o.id", "d.event_id")
    .select(["d.id", "d.consumer", "d.event_id", "d.event_type", "d.account_key", "d.lane_seq", "d.attempts", "o.payload_json", "o.created_at as event_created_at", "d.created_at"])
    .orderBy("d.lane_seq")
    .execute()
    .then((rows) => rows.map((r) => ({ ...r, lane_seq: Number(r.lane_seq) })));
}
