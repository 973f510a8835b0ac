import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";

/**
 * Lower the scheduling priority of the calling thread only (Linux: a thread
 * id given to setpriority(2) names just that thread). Parse workers call it so
 * that, when cores are scarce, the main thread — which takes messages off the
 * server and makes them durable — wins the CPU, and parsing uses what is
 * left. Best effort: elsewhere, or without /proc, it does nothing.
 *
 * @example
 * ```ts
 * lowerThreadPriority(10); // inside a worker thread
 * ```
 */
export function lowerThreadPriority(niceness: number): boolean {
  if (process.platform !== "linux") return false;
  try {
    // "/proc/thread-self" links to "<pid>/task/<tid>".
    const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
    if (!Number.isInteger(tid) || tid <= 0) return false;
    setPriority(tid, niceness);
    return true;
  } catch {
    return false;
  }
}
