import { describe, expect, it } from "vitest";
import { evaluateTargets, medianRun, type Measurement } from "../../bench/report.js";

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
