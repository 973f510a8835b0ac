/*
 * Finding due lane heads: the time of one `due()` poll with 1 k, 100 k and
 * 1 M open deliveries (spread over 1,000 accounts and 2 webhook consumers,
 * every lane head due), on SQLite and on PostgreSQL. A webhook receiver that
 * is down for a day with many accounts leaves that many open rows behind.
 * For comparison it also times the GROUP BY that found lane heads before
 * migration 0010, which read every open delivery of the consumers.
 *
 *   npx tsx bench/delivery-due.ts      (PostgreSQL: TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test)
 *
 * Rows are made inside the database (a recursive series), so the 1 M fill
 * takes seconds. Each size is measured on a private SQLite file and a
 * private PostgreSQL schema, dropped afterwards. Prints one line per
 * (database, size) and one JSON line.
 */
import { sql, type Kysely } from "kysely";
import { pathToFileURL } from "node:url";
import type { Schema } from "../src/store/schema.js";
import { createStore, type Store } from "../src/store/store.js";
import { createTestDatabase, type DialectName } from "../test/store/test-databases.js";

/** One measured (database, size). */
export interface DueBenchResult {
  dialect: DialectName;
  openDeliveries: number;
  lanes: number;
  /** Median ms of one `due(consumers, 32)` poll. */
  dueMs: number;
  /** Median ms of the pre-0010 GROUP BY lane-head query, same limit. */
  groupByMs: number;
}

const ACCOUNTS = 1_000;
const CONSUMERS = ["webhook:bench-0", "webhook:bench-1"];
const SIZES = [1_000, 100_000, 1_000_000];
const POLLS = 15;
const LIMIT = 32;
const AT = "2025-01-01T00:00:00.000Z";
/** Added to a row number so every generated id has the same width and sorts as its number. */
const WIDTH = 1_000_000_000_000;

/**
 * Add events `from..to` (inclusive) to the outbox, dispatched, each with one open delivery per
 * consumer; event n belongs to account n mod 1,000 and is the n-th the dispatcher took.
 */
async function fill(db: Kysely<Schema>, from: number, to: number): Promise<void> {
  const series = sql`with recursive g(n) as (select cast(${from} as bigint) union all select n + 1 from g where n < ${to})`;
  await sql`${series}
    insert into outbox (id, account_id, type, payload_json, created_at, dispatched_at, dispatch_seq)
    select 'e' || cast(n + ${WIDTH} as text), 'a' || cast(n % ${ACCOUNTS} + ${WIDTH} as text), 'message.received', '{"messageId":"m"}', ${AT}, ${AT}, n from g`.execute(db);
  for (const [i, consumer] of CONSUMERS.entries()) {
    await sql`${series}
      insert into deliveries (id, consumer, event_id, event_type, account_key, status, attempts, next_attempt_at, last_error, last_status, lease_owner, lease_expires_at, created_at, updated_at, completed_at, lane_seq)
      select 'd${sql.raw(String(i))}' || cast(n + ${WIDTH} as text), ${consumer}, 'e' || cast(n + ${WIDTH} as text), 'message.received', 'a' || cast(n % ${ACCOUNTS} + ${WIDTH} as text),
             'pending', 0, ${AT}, null, null, null, null, ${AT}, ${AT}, null, n from g`.execute(db);
  }
}

/** The lane-head query before migration 0010: the lowest open position per lane, grouped over every open row. */
async function groupByHeads(db: Kysely<Schema>, at: string): Promise<number> {
  const heads = db
    .selectFrom("deliveries")
    .select(["consumer", "account_key", (eb) => eb.fn.min("lane_seq").as("head")])
    .where(sql<boolean>`status in ('pending', 'retrying')`)
    .where("consumer", "in", CONSUMERS)
    .groupBy(["consumer", "account_key"])
    .as("h");
  const rows = await db
    .selectFrom("deliveries as d")
    .innerJoin(heads, (join) => join.onRef("h.consumer", "=", "d.consumer").onRef("h.account_key", "=", "d.account_key").onRef("h.head", "=", "d.lane_seq"))
    .leftJoin("outbox as o", "o.id", "d.event_id")
    .select(["d.id", "o.payload_json"])
    .where("d.status", "in", ["pending", "retrying"])
    .where("d.next_attempt_at", "<=", at)
    .where((eb) => eb.or([eb("d.lease_owner", "is", null), eb("d.lease_expires_at", "<", at)]))
    .orderBy("d.lane_seq")
    .limit(LIMIT)
    .execute();
  return rows.length;
}

/** Median ms of `POLLS` runs of `poll`, after two unmeasured ones. */
async function medianMs(poll: () => Promise<number>): Promise<number> {
  await poll();
  await poll();
  const times: number[] = [];
  for (let i = 0; i < POLLS; i++) {
    const started = performance.now();
    const found = await poll();
    times.push(performance.now() - started);
    if (found !== LIMIT) throw new Error(`a poll found ${found} due deliveries, expected ${LIMIT}`);
  }
  times.sort((a, b) => a - b);
  return Number(times[Math.floor(times.length / 2)].toFixed(2));
}

async function measure(dialect: DialectName, store: Store, size: number): Promise<DueBenchResult> {
  const now = new Date("2025-01-02T00:00:00.000Z");
  return {
    dialect,
    openDeliveries: size,
    lanes: Math.min(size / CONSUMERS.length, ACCOUNTS) * CONSUMERS.length,
    dueMs: await medianMs(async () => (await store.deliveries.due(CONSUMERS, LIMIT, now)).length),
    groupByMs: await medianMs(() => groupByHeads(store.database.db, now.toISOString())),
  };
}

async function benchDialect(dialect: DialectName, log: (line: string) => void): Promise<DueBenchResult[]> {
  const target = await createTestDatabase(dialect);
  const store = await createStore({ databaseUrl: target.databaseUrl, dataDir: target.dataDir });
  const results: DueBenchResult[] = [];
  try {
    let filled = 0;
    for (const size of SIZES) {
      const started = performance.now();
      // Each size adds to the last: events filled/2+1 .. size/2, two deliveries each.
      await fill(store.database.db, filled / CONSUMERS.length + 1, size / CONSUMERS.length);
      filled = size;
      // What autovacuum would have done by now; SQLite is left as Inbound leaves it (no ANALYZE).
      if (dialect === "postgres") await sql`analyze`.execute(store.database.db);
      log(`  ${dialect}: ${size} open deliveries filled in ${Math.round(performance.now() - started)} ms`);
      const result = await measure(dialect, store, size);
      log(formatDueBench([result]));
      results.push(result);
    }
    return results;
  } finally {
    await store.close();
    await target.cleanup();
  }
}

/**
 * Run the due() benchmark on both databases and return its numbers.
 *
 * @example
 * ```ts
 * for (const r of await benchDeliveryDue()) console.log(r.dialect, r.openDeliveries, r.dueMs);
 * ```
 */
export async function benchDeliveryDue(options: { log?: (line: string) => void } = {}): Promise<DueBenchResult[]> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  return [...(await benchDialect("sqlite", log)), ...(await benchDialect("postgres", log))];
}

/** Lines for a report. */
export function formatDueBench(results: DueBenchResult[]): string {
  return results
    .map((r) => `due()  ${r.dialect.padEnd(8)} ${String(r.openDeliveries).padStart(9)} open, ${String(r.lanes).padStart(5)} lanes: ${String(r.dueMs).padStart(8)} ms per poll  (GROUP BY before 0010: ${r.groupByMs} ms)`)
    .join("\n");
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const results = await benchDeliveryDue();
  process.stdout.write(`${formatDueBench(results)}\n${JSON.stringify(results)}\n`);
}
