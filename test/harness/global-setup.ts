import { execFileSync } from "node:child_process";
import pg from "pg";
import { ensureTestPackages } from "./dovecot.js";

/**
 * Runs once before the suite: installs Dovecot and Chromium when missing and
 * proves PostgreSQL is reachable, so no test silently skips a real part.
 */
export default async function setup(): Promise<void> {
  ensureTestPackages();
  const url = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    await client.query("select 1");
  } catch (error) {
    throw new Error(`PostgreSQL at ${url} is not reachable (${String(error)}); start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`);
  } finally {
    await client.end().catch(() => undefined);
  }
  // Beyond ~128 IDLE sessions Dovecot falls back to polling unless inotify allows more.
  try {
    execFileSync("sysctl", ["-q", "-w", "fs.inotify.max_user_instances=8192"], { stdio: "ignore" });
  } catch {
    // Not fatal for the core suite; the watch benchmark checks it itself.
  }
}
