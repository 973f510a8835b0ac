/*
 * `npm run bench`: fills a private Dovecot mailbox with a generated corpus
 * and measures, in one run, the Node ceiling (bare imapflow), the naive
 * baseline (imapflow + simpleParser) and `inbound fetch` over IMAP, IMAPS,
 * POP3 and POP3S on SQLite, then checks the ratios issue #2 asks for.
 *
 * Environment:
 *   BENCH_N     messages in the corpus (default 2000)
 *   BENCH_SEED  corpus seed (default 20240601)
 *   BENCH_ONLY  comma list of measurements to run (ceiling,floor,naive,imap,imaps,pop3,pop3s); default all
 *   BENCH_RUNS  rounds of every measurement (default 3); each figure is the median, peak RSS the highest
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startDovecot, removeDovecotDir, type DovecotServer } from "../test/harness/dovecot.js";
import { connectPop3 } from "../src/protocols/pop3/pop3-client.js";
import { emptyCorpusStats, generateCorpus, type CorpusStats } from "./corpus.js";
import { runMeasured } from "./measured-process.js";
import { evaluateTargets, formatReport, medianRun, type Measurement } from "./report.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);
const work = join(here, ".work");
const N = Number(process.env.BENCH_N ?? 2000);
const SEED = Number(process.env.BENCH_SEED ?? 20240601);
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
const ONLY = new Set((process.env.BENCH_ONLY ?? "ceiling,floor,naive,imap,imaps,pop3,pop3s").split(",").map((s) => s.trim()));
const USER = { name: "bench", password: "bench-secret" };
const ENCRYPTION_KEY = Buffer.alloc(32, 7).toString("base64");
const CLI = join(root, "dist", "bin", "inbound.js");
const PROBE = join(here, "probes", "bare-imapflow.mjs");

const log = (line: string) => process.stderr.write(`${line}\n`);
const MB = 1024 * 1024;

async function fillMailbox(dovecot: DovecotServer): Promise<CorpusStats> {
  const stats = emptyCorpusStats();
  const started = performance.now();
  for (const raw of generateCorpus(N, SEED, stats)) {
    dovecot.deliver(USER.name, raw);
    if (stats.messages % 250 === 0) log(`  delivered ${stats.messages}/${N}`);
  }
  log(`  corpus: ${stats.messages} messages, ${(stats.bytes / MB).toFixed(1)} MiB in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return stats;
}

/** Let Dovecot index the Maildir and cache sizes once, outside every measurement. */
async function warmUp(dovecot: DovecotServer): Promise<void> {
  const run = await runMeasured("node", [PROBE, "fetch"], { env: probeEnv(dovecot) });
  if (run.code !== 0) throw new Error(`warm-up fetch failed: ${run.stderr}`);
  const client = await connectPop3({ host: dovecot.host, port: dovecot.ports.pop3, security: "none", tlsVerify: false, username: USER.name, password: USER.password, timeoutMs: 120_000 });
  await client.list();
  await client.uidl();
  await client.quit();
}

function probeEnv(dovecot: DovecotServer): NodeJS.ProcessEnv {
  return { ...process.env, BENCH_IMAP: JSON.stringify({ host: dovecot.host, port: dovecot.ports.imap, user: USER.name, password: USER.password }) };
}

const PROBE_KEYS = { fetch: "ceiling", durable: "floor", parse: "naive" } as const;

async function measureProbe(dovecot: DovecotServer, mode: keyof typeof PROBE_KEYS, label: string, corpusBytes: number): Promise<Measurement> {
  log(`measuring ${label} ...`);
  const run = await runMeasured("node", [PROBE, mode], { env: { ...probeEnv(dovecot), BENCH_SPOOL_DIR: work } });
  if (run.code !== 0) throw new Error(`${label} failed (exit ${run.code}): ${run.stderr}`);
  const result = JSON.parse(run.stdout.trim().split("\n").pop() as string) as { messages: number; bytes: number; ms: number };
  if (result.messages !== N) throw new Error(`${label} saw ${result.messages} messages, expected ${N}`);
  return {
    key: PROBE_KEYS[mode],
    label,
    messages: result.messages,
    bytes: corpusBytes,
    ms: result.ms,
    peakRss: run.peakRss,
    wallMs: run.wallMs,
    cpuMs: run.cpuMs,
  };
}

async function cli(dataDir: string, args: string[], stdin?: string) {
  const env: NodeJS.ProcessEnv = { ...process.env, INBOUND_ENCRYPTION_KEY: ENCRYPTION_KEY, INBOUND_LOG_LEVEL: "warn" };
  // Run as a user runs it (`inbound ...`): through its shebang, with the memory settings it carries.
  return runMeasured(CLI, ["--data-dir", dataDir, "--json", ...args], { env, stdin });
}

async function measureInbound(dovecot: DovecotServer, protocol: "imap" | "imaps" | "pop3" | "pop3s", caFile: string, corpusBytes: number): Promise<Measurement> {
  const label = `inbound fetch ${protocol.toUpperCase()}`;
  log(`measuring ${label} ...`);
  const dataDir = join(work, `data-${protocol}`);
  rmSync(dataDir, { recursive: true, force: true });
  const port = dovecot.ports[protocol];
  const tls = protocol.endsWith("s");
  const added = await cli(dataDir, [
    "accounts", "add", "--name", "bench", "--protocol", protocol, "--host", dovecot.host, "--port", String(port),
    "--user", USER.name, "--password-stdin", "--security", tls ? "tls" : "none", "--tls-ca", caFile,
    "--all", "--batch-size", "100", "--after", "none", "--timeout", "120000",
  ], USER.password);
  if (added.code !== 0) throw new Error(`accounts add failed: ${added.stderr || added.stdout}`);
  const run = await cli(dataDir, ["fetch", "bench"]);
  try {
    if (run.code !== 0) throw new Error(`${label} failed (exit ${run.code}): ${run.stderr || run.stdout}`);
    const summary = JSON.parse(run.stdout) as { fetched: number; stored: number; parseErrors: number; durationMs: number; takenMs: number };
    if (summary.fetched !== N || summary.stored !== N) throw new Error(`${label} fetched ${summary.fetched} and stored ${summary.stored}, expected ${N}`);
    return {
      key: protocol,
      label,
      messages: summary.stored,
      bytes: corpusBytes,
      ms: summary.durationMs,
      takenMs: summary.takenMs,
      parseErrors: summary.parseErrors,
      peakRss: run.peakRss,
      wallMs: run.wallMs,
      cpuMs: run.cpuMs,
    };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  mkdirSync(work, { recursive: true });
  log(`starting Dovecot and generating ${N} messages (seed ${SEED}) ...`);
  const dovecot = await startDovecot({ users: [USER] });
  try {
    const corpus = await fillMailbox(dovecot);
    const caFile = join(work, "dovecot-ca.pem");
    writeFileSync(caFile, dovecot.certPem);
    log("warming up Dovecot's index ...");
    await warmUp(dovecot);

    // Rounds rather than repeats: a slow spell of this shared machine lands on every measurement alike.
    const rounds: Measurement[][] = [];
    for (let round = 1; round <= RUNS; round++) {
      if (RUNS > 1) log(`round ${round} of ${RUNS}`);
      const measured: Measurement[] = [];
      if (ONLY.has("ceiling")) measured.push(await measureProbe(dovecot, "fetch", "(a) bare imapflow UID FETCH 1:* BODY.PEEK[]", corpus.bytes));
      if (ONLY.has("floor")) measured.push(await measureProbe(dovecot, "durable", "(a') (a) + SHA-256 + append, fsync per 100", corpus.bytes));
      if (ONLY.has("naive")) measured.push(await measureProbe(dovecot, "parse", "(b) imapflow + simpleParser, 1 thread", corpus.bytes));
      for (const protocol of ["imap", "imaps", "pop3", "pop3s"] as const) {
        if (ONLY.has(protocol)) measured.push(await measureInbound(dovecot, protocol, caFile, corpus.bytes));
      }
      rounds.push(measured);
    }
    const measurements = rounds[0].map((_, i) => medianRun(rounds.map((measured) => measured[i])));

    const targets = evaluateTargets(measurements);
    process.stdout.write(formatReport(corpus, measurements, targets, availableParallelism()));
    const results = join(here, "results");
    mkdirSync(results, { recursive: true });
    const json = { at: new Date().toISOString(), node: process.version, seed: SEED, corpus, measurements, targets, rounds };
    writeFileSync(join(results, "latest.json"), `${JSON.stringify(json, null, 2)}\n`);
    log(`results written to ${join(results, "latest.json")}`);
  } finally {
    await dovecot.stop();
    removeDovecotDir(dovecot);
  }
}

await main();
