import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { afterEach, describe, expect, it } from "vitest";
import type { Store } from "../../src/store/store.js";
import { createAccount, takenImap } from "./fixtures.js";
import { openTestStore } from "./test-databases.js";

describe("SQLite shared by two processes", () => {
  let store: Store;
  let cleanup: () => Promise<void>;
  afterEach(async () => {
    await cleanup();
  });

  it("a second process taking the same message waits for the first and sees a duplicate, not SQLITE_BUSY", async () => {
    let target;
    ({ store, cleanup, target } = await openTestStore("sqlite"));
    const accountId = await createAccount(store);
    const child = spawn(process.execPath, ["--import", "tsx", "test/store/hold-sqlite-write.ts", target.dataDir, accountId, "1", "500"], {
      cwd: process.cwd(),
      stdio: ["ignore", "pipe", "inherit"],
    });
    const lines = createInterface({ input: child.stdout });
    const output: string[] = [];
    const ready = new Promise<void>((resolve) =>
      lines.on("line", (line) => {
        output.push(line);
        if (line === "ready") resolve();
      }),
    );
    const exited = once(child, "exit");
    await ready;
    // The child holds an open write transaction with the same source key.
    const ours = await store.transaction((trx) => store.messages.insertTaken(trx, [takenImap(accountId, 1)]));
    const [code] = await exited;
    expect(code).toBe(0);
    expect(JSON.parse(output[1])).toEqual({ inserted: [expect.any(String)], duplicates: 0 });
    expect(ours).toEqual({ inserted: [], duplicates: 1 });
    expect(await store.messages.countByAccount(accountId)).toBe(1);
  });
});
