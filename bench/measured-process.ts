import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A finished child process with its peak memory. */
export interface MeasuredProcess {
  code: number | null;
  stdout: string;
  stderr: string;
  wallMs: number;
  /** Peak resident set of the process, worker threads included (they share its address space), in bytes. */
  peakRss: number;
  /** How peakRss was taken. */
  rssSource: "time -v" | "VmHWM";
  /** CPU time of the process, user + system, every thread (from GNU `time -v`; absent without it). */
  cpuMs?: number;
}

/** Options for {@link runMeasured}. */
export interface RunMeasuredOptions {
  env?: NodeJS.ProcessEnv;
  stdin?: string;
}

const GNU_TIME = "/usr/bin/time";

/**
 * Run `command args` as a child process and report its output, wall time,
 * peak RSS and (with GNU time) CPU time. Peak RSS comes from GNU `time -v` (the kernel's maxrss of the
 * waited child, exact) when installed, else from sampling VmHWM in
 * /proc/<pid>/status every 20 ms (the high-water mark is monotonic, so only
 * the last 20 ms can be missed).
 *
 * @example
 * ```ts
 * const run = await runMeasured("node", ["dist/bin/inbound.js", "--json", "fetch", "bench"]);
 * console.log(run.peakRss / 2 ** 20, "MiB");
 * ```
 */
export async function runMeasured(command: string, args: readonly string[], options: RunMeasuredOptions = {}): Promise<MeasuredProcess> {
  const useTime = existsSync(GNU_TIME);
  const scratch = mkdtempSync(join(tmpdir(), "inbound-bench-"));
  const timeFile = join(scratch, "time.txt");
  const [file, argv] = useTime ? [GNU_TIME, ["-v", "-o", timeFile, command, ...args]] : [command, [...args]];
  const started = performance.now();
  const child = spawn(file, argv, { env: options.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
  child.stdin.end(options.stdin ?? "");

  let sampled = 0;
  const sample = async () => {
    try {
      const status = await readFile(`/proc/${child.pid}/status`, "utf8");
      const match = /^VmHWM:\s+(\d+) kB/m.exec(status);
      if (match) sampled = Math.max(sampled, Number(match[1]) * 1024);
    } catch {
      // The process has exited.
    }
  };
  const sampler = useTime ? undefined : setInterval(() => void sample(), 20);
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once("error", reject);
      child.once("close", resolve);
    });
    const wallMs = performance.now() - started;
    let peakRss = sampled;
    let cpuMs: number | undefined;
    if (useTime) {
      const report = readFileSync(timeFile, "utf8");
      const match = /Maximum resident set size \(kbytes\): (\d+)/.exec(report);
      peakRss = match ? Number(match[1]) * 1024 : 0;
      const seconds = (label: string) => Number(new RegExp(`${label} time \\(seconds\\): ([\\d.]+)`).exec(report)?.[1] ?? NaN);
      const cpu = (seconds("User") + seconds("System")) * 1000;
      if (Number.isFinite(cpu)) cpuMs = cpu;
    }
    return { code, stdout: Buffer.concat(stdout).toString("utf8"), stderr: Buffer.concat(stderr).toString("utf8"), wallMs, peakRss, rssSource: useTime ? "time -v" : "VmHWM", cpuMs };
  } finally {
    if (sampler) clearInterval(sampler);
    rmSync(scratch, { recursive: true, force: true });
  }
}
