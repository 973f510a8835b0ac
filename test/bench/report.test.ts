import { describe, expect, it } from "vitest";
import { budgetLines, evaluateTargets, medianRun, type Measurement } from "../../bench/report.js";

const MiB = 1024 * 1024;
const run = (key: Measurement["key"], ms: number, extra: Partial<Measurement> = {}): Measurement => ({
  key, label: key, messages: 2000, bytes: 456 * MiB, ms, peakRss: 200 * MiB, wallMs: ms + 300, ...extra,
});

describe("benchmark rounds", () => {
  it("summarises runs by their median times and their highest peak RSS", () => {
    const summary = medianRun([
      run("imap", 6400, { takenMs: 1100, peakRss: 250 * MiB, parseErrors: 0 }),
      run("imap", 9900, { takenMs: 1800, peakRss: 240 * MiB, parseErrors: 0 }),
      run("imap", 6000, { takenMs: 1000, peakRss: 290 * MiB, parseErrors: 1 }),
    ]);
    expect(summary.ms).toBe(6400);
    expect(summary.takenMs).toBe(1100);
    expect(summary.peakRss).toBe(290 * MiB);
    expect(summary.parseErrors).toBe(1);
    expect(summary.runs).toBe(3);
  });

  it("takes the mean of the middle two of an even number of runs, and keeps an absent take time absent", () => {
    const summary = medianRun([run("ceiling", 500), run("ceiling", 400), run("ceiling", 700), run("ceiling", 600)]);
    expect(summary.ms).toBe(550);
    expect(summary.takenMs).toBeUndefined();
    expect(() => medianRun([])).toThrow(/at least one run/);
  });

  it("decides the targets on the medians: one slow round does not fail the memory bound of the others, a high one does", () => {
    const rounds = [
      [run("ceiling", 500), run("imap", 5000, { takenMs: 900 })],
      [run("ceiling", 480), run("imap", 7000, { takenMs: 1900, peakRss: 310 * MiB })],
      [run("ceiling", 520), run("imap", 5200, { takenMs: 950 })],
    ];
    const measurements = rounds[0].map((_, i) => medianRun(rounds.map((r) => r[i])));
    const targets = evaluateTargets(measurements);
    const taken = targets.find((t) => t.name.startsWith("IMAP durably-taken"));
    const rss = targets.find((t) => t.name.startsWith("IMAP peak RSS"));
    expect(taken?.pass).toBe(true);
    expect(rss?.pass).toBe(false);
  });
});

describe("benchmark budget", () => {
  it("states how close the take floor gets to (a), and the CPU time 1.5 × (b) leaves against what each run used", () => {
    const measurements = [
      run("ceiling", 1000),
      run("floor", 2500),
      run("naive", 12_000),
      run("imap", 11_000, { takenMs: 3000, cpuMs: 20_000 }),
      run("pop3", 10_000, { takenMs: 2500 }),
    ];
    const lines = budgetLines(measurements, 2);
    expect(lines).toEqual([
      "Take floor: (a') runs at 0.40× the rate of (a); the IMAP durably-taken target asks 0.50×.",
      "IMAP: 1.5 × (b) means done in ≤ 8.00 s, i.e. ≤ 16.0 CPU-s on 2 cores; the run used 20.0 CPU-s (1.25× that, Dovecot not counted).",
    ]);
    expect(budgetLines([run("imap", 11_000, { cpuMs: 20_000 })], 2)).toEqual([]);
  });

  it("keeps the median CPU time of the rounds, and none when it was not measured", () => {
    expect(medianRun([run("imap", 1, { cpuMs: 30 }), run("imap", 1, { cpuMs: 10 }), run("imap", 1, { cpuMs: 20 })]).cpuMs).toBe(20);
    expect(medianRun([run("imap", 1)]).cpuMs).toBeUndefined();
  });
});
