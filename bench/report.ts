import type { CorpusStats } from "./corpus.js";

/** One measured run. For `inbound fetch`, `ms` is durationMs (fully processed) and `takenMs` the durably-taken time. */
export interface Measurement {
  key: "ceiling" | "floor" | "naive" | "imap" | "imaps" | "pop3" | "pop3s";
  label: string;
  messages: number;
  /** Corpus bytes moved. */
  bytes: number;
  ms: number;
  takenMs?: number;
  parseErrors?: number;
  /** Bytes. */
  peakRss: number;
  /** Child process wall time, start-up included. */
  wallMs: number;
  /** Child process CPU time (user + system, all threads, start-up included), when measured. */
  cpuMs?: number;
  /** How many runs this figure summarises (see {@link medianRun}); 1 when absent. */
  runs?: number;
}

/**
 * Several runs of one measurement as one: the median of each time (so one
 * run slowed by a noisy neighbour moves nothing) and the highest peak RSS
 * and parse-error count (a memory bound must hold in every run).
 */
export function medianRun(runs: readonly Measurement[]): Measurement {
  if (runs.length === 0) throw new Error("medianRun needs at least one run");
  const median = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  };
  const taken = runs.map((r) => r.takenMs).filter((t): t is number => t !== undefined);
  const cpu = runs.map((r) => r.cpuMs).filter((t): t is number => t !== undefined);
  const errors = runs.map((r) => r.parseErrors).filter((e): e is number => e !== undefined);
  return {
    ...runs[0],
    ms: median(runs.map((r) => r.ms)),
    takenMs: taken.length === 0 ? undefined : median(taken),
    parseErrors: errors.length === 0 ? undefined : Math.max(...errors),
    peakRss: Math.max(...runs.map((r) => r.peakRss)),
    wallMs: median(runs.map((r) => r.wallMs)),
    cpuMs: cpu.length === 0 ? undefined : median(cpu),
    runs: runs.length,
  };
}

/** One target of issue #2, decided on this run's own numbers. */
export interface TargetResult {
  name: string;
  /** The measured value and what it must reach, as printed. */
  measured: string;
  required: string;
  pass: boolean | null;
}

const MiB = 1024 * 1024;
/** Peak RSS limit for `inbound fetch`. */
export const RSS_LIMIT = 300 * MiB;

export const perSecond = (count: number, ms: number) => (count * 1000) / ms;

function rates(m: Measurement) {
  return {
    processed: perSecond(m.messages, m.ms),
    processedMb: perSecond(m.bytes, m.ms) / MiB,
    taken: m.takenMs === undefined ? undefined : perSecond(m.messages, m.takenMs),
    takenMb: m.takenMs === undefined ? undefined : perSecond(m.bytes, m.takenMs) / MiB,
  };
}

/**
 * The ratios from issue #2, each against this run's own reference numbers:
 * IMAP durably-taken ≥ 0.5 × (a); fully-processed ≥ 1.5 × (b) (each
 * protocol); POP3 taken ≥ IMAP taken / 1.2 (plain and TLS); peak RSS < 300 MB.
 * A target whose inputs were not measured is `pass: null`.
 */
export function evaluateTargets(measurements: readonly Measurement[]): TargetResult[] {
  const by = new Map(measurements.map((m) => [m.key, m]));
  const out: TargetResult[] = [];
  const ceiling = by.get("ceiling");
  const naive = by.get("naive");
  const ratio = (value: number) => `${value.toFixed(2)}×`;

  const imap = by.get("imap");
  if (imap && ceiling) {
    const r = (rates(imap).taken as number) / rates(ceiling).processed;
    out.push({ name: "IMAP durably-taken ≥ 0.5 × (a)", measured: ratio(r), required: "≥ 0.50×", pass: r >= 0.5 });
  } else out.push({ name: "IMAP durably-taken ≥ 0.5 × (a)", measured: "n/a", required: "≥ 0.50×", pass: null });

  for (const key of ["imap", "imaps", "pop3", "pop3s"] as const) {
    const m = by.get(key);
    if (!m) continue;
    const name = `${key.toUpperCase()} fully-processed ≥ 1.5 × (b)`;
    if (!naive) {
      out.push({ name, measured: "n/a", required: "≥ 1.50×", pass: null });
      continue;
    }
    const r = rates(m).processed / rates(naive).processed;
    out.push({ name, measured: ratio(r), required: "≥ 1.50×", pass: r >= 1.5 });
  }

  for (const [pop, imapKey] of [["pop3", "imap"], ["pop3s", "imaps"]] as const) {
    const p = by.get(pop);
    const i = by.get(imapKey);
    if (!p || !i) continue;
    const r = (rates(p).taken as number) / (rates(i).taken as number);
    out.push({ name: `${pop.toUpperCase()} taken ≥ ${imapKey.toUpperCase()} taken / 1.2`, measured: ratio(r), required: `≥ ${(1 / 1.2).toFixed(2)}×`, pass: r >= 1 / 1.2 });
  }

  for (const key of ["imap", "imaps", "pop3", "pop3s"] as const) {
    const m = by.get(key);
    if (!m) continue;
    out.push({ name: `${key.toUpperCase()} peak RSS < 300 MB`, measured: `${(m.peakRss / MiB).toFixed(0)} MB`, required: "< 300 MB", pass: m.peakRss < RSS_LIMIT });
  }
  return out;
}

function pad(cells: string[][]): string {
  const widths = cells[0].map((_, c) => Math.max(...cells.map((row) => row[c].length)));
  return cells.map((row) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("  ")).join("\n");
}

/** The printed report: corpus, one row per measurement, then every target with PASS/FAIL. */
function runsOf(measurements: readonly Measurement[]): string {
  const counts = [...new Set(measurements.map((m) => m.runs ?? 1))];
  return counts.join("/");
}

/**
 * What bounds the two speed targets on this machine, from this run's own
 * numbers: how close to (a) the take floor (a') gets, and, for each inbound
 * protocol, the CPU time 1.5 × (b) leaves on `cores` cores against the CPU
 * time the run used. Empty lines when the inputs were not measured.
 */
export function budgetLines(measurements: readonly Measurement[], cores: number): string[] {
  const by = new Map(measurements.map((m) => [m.key, m]));
  const ceiling = by.get("ceiling");
  const floor = by.get("floor");
  const naive = by.get("naive");
  const lines: string[] = [];
  if (ceiling && floor) {
    lines.push(`Take floor: (a') runs at ${(ceiling.ms / floor.ms).toFixed(2)}× the rate of (a); the IMAP durably-taken target asks 0.50×.`);
  }
  if (naive) {
    const allowedMs = naive.ms / 1.5;
    for (const key of ["imap", "imaps", "pop3", "pop3s"] as const) {
      const m = by.get(key);
      if (m?.cpuMs === undefined) continue;
      lines.push(
        `${key.toUpperCase()}: 1.5 × (b) means done in ≤ ${(allowedMs / 1000).toFixed(2)} s, i.e. ≤ ${((allowedMs * cores) / 1000).toFixed(1)} CPU-s on ${cores} cores;` +
          ` the run used ${(m.cpuMs / 1000).toFixed(1)} CPU-s (${(m.cpuMs / (allowedMs * cores)).toFixed(2)}× that, Dovecot not counted).`,
      );
    }
  }
  return lines;
}

export function formatReport(corpus: CorpusStats, measurements: readonly Measurement[], targets: readonly TargetResult[], cores = 2): string {
  const f = (n: number | undefined, digits = 0) => (n === undefined ? "-" : n.toFixed(digits));
  const rows = [["measurement", "taken msg/s", "taken MB/s", "processed msg/s", "processed MB/s", "taken s", "total s", "CPU s", "peak RSS MB", "parse errors"]];
  for (const m of measurements) {
    const r = rates(m);
    rows.push([m.label, f(r.taken), f(r.takenMb, 1), f(r.processed), f(r.processedMb, 1), f(m.takenMs === undefined ? undefined : m.takenMs / 1000, 2), f(m.ms / 1000, 2), f(m.cpuMs === undefined ? undefined : m.cpuMs / 1000, 1), f(m.peakRss / MiB), f(m.parseErrors)]);
  }
  const charsets = Object.entries(corpus.byCharset).map(([c, n]) => `${c} ${n}`).join(", ");
  const lines = [
    "",
    `Corpus: ${corpus.messages} messages, ${(corpus.bytes / MiB).toFixed(1)} MiB (${(corpus.bytes / 1e6).toFixed(1)} MB), largest ${(corpus.largest / MiB).toFixed(1)} MiB;`,
    `        ${corpus.withAttachments} with attachments (${corpus.attachments} in all); text ${corpus.byKind.text}, html ${corpus.byKind.html}, alternative ${corpus.byKind.alternative}; ${charsets}`,
    "",
    pad(rows),
    "",
    "(a)/(a')/(b): one rate (bytes downloaded / stored / parsed). inbound: taken = fetched / takenMs (raw stored, checkpointed,",
    "after-action done); processed = stored / durationMs (parsed, sanitized, attachments stored). MB = MiB.",
    `Each time is the median of ${runsOf(measurements)} run(s), taken in rounds (a), (a'), (b), IMAP, ...; peak RSS is the highest of them.`,
    "CPU s: the process's user + system time, all threads, start-up included (GNU time).",
    "",
    ...budgetLines(measurements, cores),
    "",
    pad([["target", "measured", "required", "result"], ...targets.map((t) => [t.name, t.measured, t.required, t.pass === null ? "n/a" : t.pass ? "PASS" : "FAIL"])]),
    "",
  ];
  return lines.join("\n");
}
