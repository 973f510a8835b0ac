import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStore } from "../../src/store/store.js";
import { mailboxPool, startDovecot, type DovecotServer } from "../harness/dovecot.js";
import { DIALECTS } from "../store/test-databases.js";
import { makeMessage, openRetrievalFixture, TEST_KEY, type RetrievalFixture } from "./retrieval-fixture.js";

const CLI = new URL("../../src/bin/inbound.ts", import.meta.url).pathname;

/** Run the real CLI in a child process, as a user (or a scheduler) would. */
function startCli(args: string[], env: Record<string, string | undefined>) {
  const child = spawn(process.execPath, ["--import", "tsx", CLI, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, exited };
}

function bigMessage(n: number): string {
  // ~300 KB each, so a run of 50 lasts long enough to be killed mid-way.
  const line = "abcdefghijklmnopqrstuvwxyz0123456789".repeat(2) + "\r\n";
  return makeMessage(n, { body: line.repeat(4_000) });
}

describe.each(DIALECTS)("replicating everything on %s", (dialect) => {
  let dovecot: DovecotServer;
  let fx: RetrievalFixture;
  beforeAll(async () => {
    dovecot = await startDovecot({ users: mailboxPool(2) });
    fx = await openRetrievalFixture(dialect, dovecot);
  });
  afterAll(async () => {
    await fx?.close();
    await dovecot?.stop();
  });

  it("ends with exactly 50 stored after a SIGKILL mid-run and a restart", async () => {
    const box = fx.newMailbox();
    for (let i = 1; i <= 50; i++) fx.dovecot.deliver(box.user, bigMessage(i));
    await fx.inbound.addAccount(fx.account("crashy", box, { protocol: "imap", security: "none" }, { all: true, batchSize: 7, after: "delete" }));
    const env = { INBOUND_ENCRYPTION_KEY: TEST_KEY, DATABASE_URL: fx.database.databaseUrl ?? "", INBOUND_DATA_DIR: fx.database.dataDir };
    const accountId = (await fx.inbound.getAccount("crashy")).id;

    const first = startCli(["fetch", "crashy", "--json"], env);
    // Kill it once at least one batch is committed, well before the end.
    let storedAtKill = 0;
    for (;;) {
      storedAtKill = await fx.inbound.store.messages.countByAccount(accountId);
      if (storedAtKill >= 7) break;
      if (first.child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    first.child.kill("SIGKILL");
    const killed = await first.exited;
    expect(killed.signal).toBe("SIGKILL");
    expect(storedAtKill).toBeGreaterThanOrEqual(7);
    expect(storedAtKill).toBeLessThan(50);

    const second = startCli(["fetch", "crashy", "--json"], env);
    const done = await second.exited;
    expect(done.code, done.stderr).toBe(0);
    const summary = JSON.parse(done.stdout) as { stored: number; duplicates: number };
    expect(summary.stored + storedAtKill).toBeGreaterThanOrEqual(50);

    // Exactly 50, each once, all parsed, and the server drained.
    const store = await createStore({ databaseUrl: fx.database.databaseUrl, dataDir: fx.database.dataDir });
    try {
      const page = await store.messages.list({ accountId, limit: 500 });
      expect(page.items).toHaveLength(50);
      expect(new Set(page.items.map((m) => m.messageIdHeader)).size).toBe(50);
      expect(page.items.filter((m) => m.status !== "parsed")).toHaveLength(0);
    } finally {
      await store.close();
    }
    expect(fx.dovecot.count(box.user)).toBe(0);
  }, 120_000);
});
