/*
 * `npx tsx bench/parse-cpu.ts`: CPU cost per message of inbound's parser
 * against mailparser's simpleParser on the benchmark corpus, in one thread,
 * without a server. A tool for working on the parser; `npm run bench` is the
 * measurement of record.
 *
 *   BENCH_N (default 2000), BENCH_SEED (default 20240601), PARSE_ONLY=simple,inbound,nosanitize,sanitize
 *   PARSE_PROFILE=<dir>: write one V8 CPU profile per measured pass (setup and
 *   warm-up excluded) to <dir>/<label>.cpuprofile, for Chrome DevTools or
 *   `npx tsx bench/parse-cpu.ts --summarise <file>` (self time per function).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { simpleParser } from "mailparser";
import { parseMessage } from "../src/mime/parse-message.js";
import { sanitizeHtml } from "../src/mime/sanitize-html.js";
import { generateCorpus } from "./corpus.js";

const here = dirname(fileURLToPath(import.meta.url));
const work = join(here, ".work", "parse-cpu");
const N = Number(process.env.BENCH_N ?? 2000);
const SEED = Number(process.env.BENCH_SEED ?? 20240601);
const ONLY = new Set((process.env.PARSE_ONLY ?? "simple,inbound,nosanitize,sanitize").split(","));
const PROFILE_DIR = process.env.PARSE_PROFILE;

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

if (process.argv[2] === "--summarise") {
  summarise(JSON.parse(readFileSync(process.argv[3], "utf8")) as Profile, Number(process.argv[4] ?? 40));
  process.exit(0);
}

/** Print the functions with the most self time: the first place to look. */
function summarise(profile: Profile, top: number): void {
  const byNode = new Map<number, number>();
  profile.samples.forEach((id, i) => byNode.set(id, (byNode.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const byFunction = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const us = byNode.get(node.id) ?? 0;
    total += us;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*?\/(src|bench)\//, "$1/");
    const key = `${functionName || "(anonymous)"} ${where}${where ? `:${lineNumber + 1}` : ""}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  }
  for (const [key, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`${(us / 1000).toFixed(0).padStart(7)} ms ${((100 * us) / total).toFixed(1).padStart(5)} %  ${key.slice(0, 160)}\n`);
  }
  process.stdout.write(`${(total / 1000).toFixed(0).padStart(7)} ms total\n`);
}

rmSync(work, { recursive: true, force: true });
mkdirSync(join(work, "raw"), { recursive: true });
const files: string[] = [];
let i = 0;
for (const raw of generateCorpus(N, SEED)) {
  const file = join(work, "raw", `${i++}.eml`);
  writeFileSync(file, raw);
  files.push(file);
}

async function measure(label: string, each: (file: string) => Promise<unknown>): Promise<void> {
  // One warm-up pass over a slice so the JIT has settled.
  for (const file of files.slice(0, 100)) await each(file);
  const session = PROFILE_DIR === undefined ? null : new Session();
  if (session !== null) {
    session.connect();
    await session.post("Profiler.enable");
    await session.post("Profiler.start");
  }
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (const file of files) await each(file);
  const used = process.cpuUsage(cpu);
  const ms = performance.now() - started;
  if (session !== null && PROFILE_DIR !== undefined) {
    const { profile } = await session.post("Profiler.stop");
    session.disconnect();
    mkdirSync(PROFILE_DIR, { recursive: true });
    const file = join(PROFILE_DIR, `${label.replace(/\W+/g, "-").replace(/^-|-$/g, "")}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    process.stdout.write(`profile: ${file}\n`);
  }
  const cpuMs = (used.user + used.system) / 1000;
  process.stdout.write(`${label.padEnd(28)} ${(cpuMs / files.length).toFixed(2)} ms CPU/msg  ${(ms / files.length).toFixed(2)} ms wall/msg\n`);
}

const htmls: string[] = [];
if (ONLY.has("simple")) await measure("simpleParser (buffer)", async (file) => simpleParser(readFileSync(file)));
if (ONLY.has("inbound")) await measure("parseMessage sanitize", (file) => parseMessage(file, { blobDir: join(work, "blobs"), sanitize: true, inlineImages: true }));
if (ONLY.has("nosanitize")) {
  await measure("parseMessage no sanitize", async (file) => {
    const parsed = await parseMessage(file, { blobDir: join(work, "blobs"), sanitize: false, inlineImages: false });
    if (parsed.html !== null) htmls.push(parsed.html);
  });
}
if (ONLY.has("sanitize") && htmls.length > 0) {
  const cpu = process.cpuUsage();
  for (const html of htmls) sanitizeHtml(html);
  const used = process.cpuUsage(cpu);
  process.stdout.write(`${"sanitizeHtml alone".padEnd(28)} ${((used.user + used.system) / 1000 / files.length).toFixed(2)} ms CPU/msg (${htmls.length} HTML bodies)\n`);
}
rmSync(work, { recursive: true, force: true });
