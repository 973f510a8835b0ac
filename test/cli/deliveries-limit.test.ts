import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../store/test-databases.js";
import { cli } from "./cli-harness.js";

describe("inbound deliveries list --limit and messages list --limit", () => {
  let db: TestDatabase;
  let env: Record<string, string | undefined>;

  beforeAll(async () => {
    db = await createTestDatabase("sqlite");
    env = { INBOUND_DATA_DIR: db.dataDir, DATABASE_URL: db.databaseUrl };
  });
  afterAll(async () => db?.cleanup());

  it("refuses a limit that is not a whole number of at least 1 with CONFIG_INVALID naming --limit, exit code 2", async () => {
    for (const limit of ["abc", "1.5", "0", "-3", "10x", ""]) {
      const result = await cli(["deliveries", "list", "--limit", limit], env);
      expect(result.code, `--limit ${JSON.stringify(limit)}`).toBe(2);
      expect(result.stderr).toContain("error [CONFIG_INVALID]");
      expect(result.stderr).toContain("--limit: must be a whole number of at least 1");
    }
    const messages = await cli(["messages", "list", "--limit", "abc"], env);
    expect(messages.code).toBe(2);
    expect(messages.stderr).toContain("--limit: must be a whole number of at least 1");
    const json = await cli(["deliveries", "list", "--limit", "abc", "--json"], env);
    expect(json.code).toBe(2);
    expect(json.json().error).toMatchObject({ code: "CONFIG_INVALID", details: { fields: [{ field: "--limit", message: "must be a whole number of at least 1" }] } });
  });

  it("takes a whole-number limit", async () => {
    const result = await cli(["deliveries", "list", "--limit", "5"], env);
    expect(result.stderr).not.toContain("error");
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("No deliveries.\n");
    expect((await cli(["deliveries", "list", "--limit", "5", "--json"], env)).json()).toEqual({ items: [], nextCursor: null });
  });
});
