import { spawnSync } from "node:child_process";
import { hostname } from "node:os";
import { describe, expect, it } from "vitest";
import { isDeadLocalOwner, newOwnerId } from "../../src/store/lease-owner.js";

/** The pid of a process that has just ended. */
function endedPid(): number {
  const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]);
  return Number(child.stdout.toString());
}

describe("lease owners", () => {
  it("judges a holder dead only on this host, in this PID namespace, when its process is gone", () => {
    const mine = newOwnerId();
    const [host, pid, , namespace] = mine.split("|");
    expect(host).toBe(hostname());
    expect(Number(pid)).toBe(process.pid);
    expect(namespace).toMatch(/^\d*$/);
    expect(isDeadLocalOwner(mine)).toBe(false);

    const gone = endedPid();
    expect(isDeadLocalOwner(`${host}|${gone}|abc|${namespace}`)).toBe(true);
    // Another container with the same host name numbers its own processes: its pid says nothing here.
    expect(isDeadLocalOwner(`${host}|${gone}|abc|1${namespace}`)).toBe(false);
    expect(isDeadLocalOwner(`another-host|${gone}|abc|${namespace}`)).toBe(false);
    // An owner written by an earlier version (no namespace) is judged as before.
    expect(isDeadLocalOwner(`${host}|${gone}|abc`)).toBe(true);
    // A live process (this test's parent, say) is not dead.
    expect(isDeadLocalOwner(`${host}|${process.ppid}|abc|${namespace}`)).toBe(false);
  });
});
