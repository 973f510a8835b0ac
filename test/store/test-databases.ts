import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { createStore, type Store } from "../../src/store/store.js";

/** Both dialects; every storage test runs on each. */
export const DIALECTS = ["sqlite", "postgres"] as const;
export type DialectName = (typeof DIALECTS)[number];

/** The server PostgreSQL tests use; override with TEST_DATABASE_URL. */
export const TEST_POSTGRES_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/** A private place to store: a temp data dir and, for PostgreSQL, a fresh schema. */
export interface TestDatabase {
  dialect: DialectName;
  dataDir: string;
  databaseUrl: string | undefined;
  /** The PostgreSQL schema this test owns; undefined on SQLite. */
  pgSchema: string | undefined;
  /** Drops the schema and the temp dir. */
  cleanup(): Promise<void>;
}

async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (error) {
    // Never skip: a storage test that silently ran on one dialect proves half as much.
    throw new Error(
      `PostgreSQL is unreachable at ${TEST_POSTGRES_URL} (${(error as Error).message}). Storage tests need it; start it with ` +
        "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` or set TEST_DATABASE_URL.",
    );
  }
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** Make a private database for one test (file): SQLite in a temp dir, or a new PostgreSQL schema. */
export async function createTestDatabase(dialect: DialectName): Promise<TestDatabase> {
  const dataDir = await mkdtemp(join(tmpdir(), `inbound-${dialect}-`));
  if (dialect === "sqlite") {
    return { dialect, dataDir, databaseUrl: undefined, pgSchema: undefined, cleanup: () => rm(dataDir, { recursive: true, force: true }) };
  }
  const schema = `t_${randomBytes(6).toString("hex")}`;
  await adminQuery(`CREATE SCHEMA ${schema}`);
  const url = new URL(TEST_POSTGRES_URL);
  url.searchParams.set("options", `-c search_path=${schema}`);
  return {
    dialect,
    dataDir,
    databaseUrl: url.toString(),
    pgSchema: schema,
    async cleanup() {
      await adminQuery(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A store on a private database, plus its cleanup (close, then drop). */
export async function openTestStore(dialect: DialectName): Promise<{ store: Store; target: TestDatabase; cleanup(): Promise<void> }> {
  const target = await createTestDatabase(dialect);
  const store = await createStore({ databaseUrl: target.databaseUrl, dataDir: target.dataDir });
  return {
    store,
    target,
    async cleanup() {
      await store.close();
      await target.cleanup();
    },
  };
}
