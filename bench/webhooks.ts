/*
 * Webhook throughput (issue #3): messages/s delivered by the delivery service
 * to a local HTTP receiver, on SQLite (or BENCH_DATABASE_URL), with the
 * receiver answering 200 always, and answering 500 half of the time (short
 * backoff so the run finishes). Messages are stored first, then the service
 * starts; the clock stops when every event has been acknowledged.
 *
 *   npx tsx bench/webhooks.ts
 *
 * Environment:
 *   BENCH_WEBHOOK_N         messages (default 2000)
 *   BENCH_WEBHOOK_ACCOUNTS  accounts the messages are spread over (default 10; each account is one ordered lane)
 *   BENCH_DATABASE_URL      postgres://... to measure on PostgreSQL instead of SQLite
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { createDeliveryService } from "../src/delivery/delivery-service.js";
import { createStore } from "../src/store/store.js";
import { startReceiver, storeMessage, testBox, waitFor } from "../test/delivery/delivery-fixture.js";
import { createAccount } from "../test/store/fixtures.js";
import { createPrng } from "./prng.js";

/** One measured scenario. */
export interface WebhookBenchResult {
  scenario: string;
  messages: number;
  accounts: number;
  seconds: number;
  messagesPerSecond: number;
  /** POSTs made, failures included. */
  requests: number;
  /** Events acknowledged more than once (should be 0). */
  duplicates: number;
}

/** Options for {@link benchWebhooks}. */
export interface WebhookBenchOptions {
  messages?: number;
  accounts?: number;
  databaseUrl?: string;
  log?: (line: string) => void;
}

async function scenario(name: string, messages: number, accounts: number, failRate: number, databaseUrl: string | undefined, log: (line: string) => void): Promise<WebhookBenchResult> {
  const dataDir = await mkdtemp(join(tmpdir(), "inbound-bench-webhooks-"));
  const store = await createStore({ dataDir, databaseUrl });
  const random = createPrng(42);
  const receiver = await startReceiver(() => (random.next() < failRate ? 500 : 200));
  const delivery = createDeliveryService({ store, box: testBox().box, concurrency: 16, webhookRetry: { maxAttempts: 100, baseDelayMs: 5, maxDelayMs: 50 } });
  try {
    await delivery.addWebhook({ url: receiver.url, events: ["message.received"] });
    const ids: string[] = [];
    for (let i = 0; i < accounts; i++) ids.push(await createAccount(store, `bench-${i}`));
    for (let i = 0; i < messages; i++) await storeMessage(store, ids[i % accounts]);
    log(`  ${name}: ${messages} messages stored over ${accounts} account(s); delivering`);
    const acked = new Map<string, number>();
    const started = performance.now();
    await delivery.start();
    await waitFor(() => {
      acked.clear();
      for (const r of receiver.requests) if (r.status === 200) acked.set(r.headers["inbound-event-id"] as string, (acked.get(r.headers["inbound-event-id"] as string) ?? 0) + 1);
      return acked.size >= messages;
    }, `${messages} deliveries`, 600_000);
    const seconds = (performance.now() - started) / 1000;
    return {
      scenario: name,
      messages,
      accounts,
      seconds: Number(seconds.toFixed(2)),
      messagesPerSecond: Math.round(messages / seconds),
      requests: receiver.requests.length,
      duplicates: [...acked.values()].filter((n) => n > 1).length,
    };
  } finally {
    await delivery.close();
    await receiver.close();
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/**
 * Run the webhook throughput scenarios and return their numbers.
 *
 * @example
 * ```ts
 * for (const r of await benchWebhooks({ messages: 1000 })) console.log(r.scenario, r.messagesPerSecond);
 * ```
 */
export async function benchWebhooks(options: WebhookBenchOptions = {}): Promise<WebhookBenchResult[]> {
  const messages = options.messages ?? 2000;
  const accounts = options.accounts ?? 10;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  return [
    await scenario("receiver always 200", messages, accounts, 0, options.databaseUrl, log),
    await scenario("receiver always 200, one account (one ordered lane)", Math.min(messages, 1000), 1, 0, options.databaseUrl, log),
    await scenario("receiver 500 half of the time", messages, accounts, 0.5, options.databaseUrl, log),
  ];
}

/** Lines for a report. */
export function formatWebhookBench(results: WebhookBenchResult[]): string {
  return results
    .map((r) => `webhooks  ${r.scenario.padEnd(52)} ${String(r.messagesPerSecond).padStart(6)} msg/s  (${r.messages} msgs, ${r.accounts} acct, ${r.seconds} s, ${r.requests} POSTs, ${r.duplicates} duplicate acks)`)
    .join("\n");
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const results = await benchWebhooks({
    messages: process.env.BENCH_WEBHOOK_N ? Number(process.env.BENCH_WEBHOOK_N) : undefined,
    accounts: process.env.BENCH_WEBHOOK_ACCOUNTS ? Number(process.env.BENCH_WEBHOOK_ACCOUNTS) : undefined,
    databaseUrl: process.env.BENCH_DATABASE_URL || undefined,
  });
  process.stdout.write(`${formatWebhookBench(results)}\n`);
}
