import { randomBytes } from "node:crypto";
import { readlinkSync } from "node:fs";
import { hostname } from "node:os";

/**
 * This process's PID namespace (Linux: the inode in `/proc/self/ns/pid`),
 * or "" where there is none to read. Containers may share a host name
 * (`network_mode: host`, a fixed `hostname:`) while each numbers its own
 * processes: a pid means something only inside its namespace.
 */
function pidNamespace(): string {
  try {
    return /\[(\d+)\]/.exec(readlinkSync("/proc/self/ns/pid"))?.[1] ?? "";
  } catch {
    return "";
  }
}

const NAMESPACE = pidNamespace();

/**
 * A lease owner id for this process: `host|pid|random|pid-namespace`, so a
 * process on the same machine, in the same PID namespace, can tell that a
 * holder's process is gone.
 *
 * @example
 * ```ts
 * const owner = newOwnerId(); // "web-1|4242|9f3a1c2b7d0e|4026531836"
 * ```
 */
export function newOwnerId(): string {
  return `${hostname()}|${process.pid}|${randomBytes(6).toString("hex")}|${NAMESPACE}`;
}

/**
 * True when `owner` names a process on this machine and in this PID
 * namespace (not this one) that no longer runs, e.g. after SIGKILL. A holder
 * anywhere else is never judged from here: its lease runs out instead.
 */
export function isDeadLocalOwner(owner: string): boolean {
  const [host, pidText, , namespace] = owner.split("|");
  const pid = Number(pidText);
  if (host !== hostname() || !Number.isInteger(pid) || pid === process.pid) return false;
  // An owner id without a namespace (written by an earlier version) is judged by host name alone, as then.
  if (namespace !== undefined && namespace !== NAMESPACE) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}
