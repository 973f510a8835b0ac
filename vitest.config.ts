import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Two files at a time, also on a 2-core machine (vitest's default there is one): most
    // files spend their time waiting on Dovecot, PostgreSQL, Chromium or real-time back-off,
    // not on CPU. Every file has its own database schema, mailboxes and data directory.
    maxWorkers: 2,
    globalSetup: ["test/harness/global-setup.ts"],
  },
});
