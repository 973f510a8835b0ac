/*
 * Many subscriptions (issue #3): 1,000 users on one Dovecot, one process
 * subscribing all of them the way `inbound serve` resumes them (persisted
 * subscriptions, then resumeAll). Measures the time until every watch is
 * `subscribed`, peak RSS, CPU while idle (process.cpuUsage over 10 s) and
 * the latency (APPEND → stored) for messages to random accounts.
 * Targets: all subscribed within 60 s, RSS < 1 GB.
 *
 *   npx tsx bench/many-subscriptions.ts     (BENCH_SUBSCRIPTIONS, default 1000; BENCH_SUB_SAMPLES, default 20)
 *
 * Needs root for `sysctl` (inotify limits: beyond ~128 IDLE sessions Dovecot
 * would fall back to its 30 s poll). Prints a table and one JSON line;
 * `measureManySubscriptions()` returns the numbers for bench/run.ts.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadKeyRing } from "../src/auth/key-ring.js";
import { createSecretBox } from "../src/auth/secret-box.js";
import { createInbound } from "../src/inbound.js";
import { accountCredentials } from "../src/watch/account-credentials.js";
import { createWatchManager, type RetrievalEvent } from "../src/watch/watch-manager.js";
import { mailboxPool, removeDovecotDir, startDovecot } from "../test/harness/dovecot.js";
import { quantile } from "./idle-latency.js";

/** Numbers of one many-subscriptions run. */
export interface ManySubscriptionsResult {
  accounts: number;
  /** From resumeAll() until every watch is `subscribed`. */
  allSubscribedMs: number;
  /** Peak RSS of this process over the whole run. */
  peakRssMiB: number;
  /** RSS once all are subscribed and idle. */
  idleRssMiB: number;
  /** CPU time (user + system) spent in 10 s of idling, as % of one core. */
  idleCpuPercent: number;
  /** Watches that reconnected or failed during the run (should be 0). */
  unhealthy: number;
  latency: { samples: number; p50: number; p99: number; max: number };
  targetMet: boolean;
}

const ENCRYPTION_KEY = Buffer.alloc(32, 7).toString("base64");
const MiB = 1024 * 1024;

function raiseKernelLimits(log: (line: string) => void): void {
  for (const setting of ["fs.inotify.max_user_instances=8192", "fs.inotify.max_user_watches=1048576"]) {
    try {
      execFileSync("sysctl", ["-q", "-w", setting], { stdio: "ignore" });
    } catch {
      log(`  could not set ${setting} (not root?); Dovecot may notify late`);
    }
  }
}

/** Run the many-subscriptions benchmark on a private Dovecot and SQLite store. */
export async function measureManySubscriptions(options: { accounts?: number; samples?: number; log?: (line: string) => void } = {}): Promise<ManySubscriptionsResult> {
  const count = options.accounts ?? 1000;
  const samples = options.samples ?? 20;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  raiseKernelLimits(log);
  const users = mailboxPool(count, "sub");
  log(`  starting Dovecot with ${count} users`);
  const dovecot = await startDovecot({
    users,
    ssl: false,
    // One imap process per IDLE session (Dovecot's default), so the process and inotify limits must cover them all.
    extraConfig: `service imap {\n  process_limit = ${count * 2 + 100}\n}\nservice imap-login {\n  process_limit = 200\n}\ndefault_vsz_limit = 512M\n`,
  });
  const dataDir = mkdtempSync(join(tmpdir(), "inbound-subs-bench-"));
  const env = { INBOUND_ENCRYPTION_KEY: ENCRYPTION_KEY };
  const inbound = await createInbound({ dataDir, env, parseWorkers: 1 });
  const box = createSecretBox(await loadKeyRing({ env, dataDir, log: () => undefined }));
  let peakRss = process.memoryUsage().rss;
  const rssSampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 100);
  const manager = createWatchManager({ store: inbound.store, retrieve: (id, signal) => inbound.fetch(id, { wait: true, signal }), credentials: accountCredentials(inbound.store, box) });
  try {
    log(`  adding ${count} accounts and subscriptions`);
    const ids: string[] = [];
    for (const user of users) {
      const account = await inbound.addAccount({ name: user.name, protocol: "imap", security: "none", host: dovecot.host, port: dovecot.ports.imap, username: user.name, password: user.password });
      await inbound.store.subscriptions.subscribe(account.id);
      ids.push(account.id);
    }

    const subscribedOnce = new Set<string>();
    let unhealthy = 0;
    let allSubscribed!: () => void;
    const allDone = new Promise<void>((resolve) => {
      allSubscribed = resolve;
    });
    manager.onStateChange((s) => {
      if (s.state === "subscribed") {
        subscribedOnce.add(s.accountId);
        if (subscribedOnce.size === count) allSubscribed();
        if (subscribedOnce.size % 100 === 0) log(`  ${subscribedOnce.size}/${count} subscribed`);
      }
      if (s.state === "connection_lost" || s.state === "failed" || s.state === "retrying") unhealthy++;
    });
    const started = performance.now();
    await manager.resumeAll();
    await allDone;
    const allSubscribedMs = Math.round(performance.now() - started);

    // Let the last catch-ups and state writes finish, then measure idling.
    await new Promise((r) => setTimeout(r, 3_000));
    const idleRss = process.memoryUsage().rss;
    const cpuBefore = process.cpuUsage();
    const wallBefore = performance.now();
    await new Promise((r) => setTimeout(r, 10_000));
    const cpu = process.cpuUsage(cpuBefore);
    const idleCpuPercent = ((cpu.user + cpu.system) / 1000 / (performance.now() - wallBefore)) * 100;

    log(`  ${samples} latency samples`);
    let waiting: { accountId: string; resolve: (at: number) => void } | undefined;
    manager.onRetrieval((event: RetrievalEvent) => {
      if (waiting && event.accountId === waiting.accountId && event.summary.stored > 0) waiting.resolve(performance.now());
    });
    const latencies: number[] = [];
    // One warm-up message first (the parser's worker thread starts on the first message), not counted.
    for (let i = -1; i < samples; i++) {
      const index = Math.floor(Math.random() * count);
      const seen = new Promise<number>((resolve) => {
        waiting = { accountId: ids[index], resolve };
      });
      const t0 = performance.now();
      // Delivered into the Maildir as an MTA would.
      dovecot.deliver(users[index].name, `From: bench@example.com\r\nSubject: sample ${i}\r\nMessage-ID: <many-${i}-${Date.now()}@example.com>\r\n\r\nbody\r\n`);
      const at = await seen;
      if (i >= 0) latencies.push(at - t0);
      await new Promise((r) => setTimeout(r, 200));
    }
    const result: ManySubscriptionsResult = {
      accounts: count,
      allSubscribedMs,
      peakRssMiB: Math.round(peakRss / MiB),
      idleRssMiB: Math.round(idleRss / MiB),
      idleCpuPercent: Math.round(idleCpuPercent * 10) / 10,
      unhealthy,
      latency: { samples, p50: Math.round(quantile(latencies, 0.5)), p99: Math.round(quantile(latencies, 0.99)), max: Math.round(Math.max(...latencies)) },
      targetMet: allSubscribedMs <= 60_000 && peakRss < 1024 * MiB,
    };
    return result;
  } finally {
    clearInterval(rssSampler);
    await manager.close();
    await inbound.close();
    await dovecot.stop();
    removeDovecotDir(dovecot);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The result as lines for the report. */
export function formatManySubscriptions(r: ManySubscriptionsResult): string {
  return [
    `Many subscriptions: ${r.accounts} accounts on one Dovecot, one process`,
    `  all subscribed after:      ${(r.allSubscribedMs / 1000).toFixed(1)} s   (target ≤ 60 s)`,
    `  peak RSS:                  ${r.peakRssMiB} MiB   (target < 1024 MiB); idle RSS ${r.idleRssMiB} MiB`,
    `  CPU while idle (10 s):     ${r.idleCpuPercent} % of one core`,
    `  reconnects/failures:       ${r.unhealthy}`,
    `  delivery → stored latency: p50 ${r.latency.p50} ms   p99 ${r.latency.p99} ms   max ${r.latency.max} ms (${r.latency.samples} samples)`,
    `  targets: ${r.targetMet ? "PASS" : "FAIL"}`,
  ].join("\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await measureManySubscriptions({ accounts: Number(process.env.BENCH_SUBSCRIPTIONS ?? 1000), samples: Number(process.env.BENCH_SUB_SAMPLES ?? 20) });
  process.stdout.write(`${formatManySubscriptions(result)}\n${JSON.stringify({ manySubscriptions: result })}\n`);
}
