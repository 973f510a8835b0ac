import { randomBytes } from "node:crypto";
import { hostname } from "node:os";

/**
 * A lease owner id for this process: `host|pid|random`, so a process on the
 * same machine can tell that a holder's process is gone.
 *
 * @example
 * ```ts
 * const owner = newOwnerId(); // "web-1|4242|9f3a1c2b7d0e"
 * ```
 */
export function newOwnerId(): string {
  return `${hostname()}|${process.pid}|${randomBytes(6).toString("hex")}`;
}

/** True when `owner` names a process on this machine (not this one) that no longer runs, e.g. after SIGKILL. */
export function isDeadLocalOwner(owner: string): boolean {
  const [host, pidText] = owner.split("|");
  const pid = Number(pidText);
  if (host !== hostname() || !Number.isInteger(pid) || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}
