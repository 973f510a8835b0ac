import { link, open, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { InboundError } from "../core/inbound-error.js";
import { newId } from "../core/ids.js";
import { ensureDir, fsyncDir, storeFailed } from "./durable-files.js";

/** The file in the spool directory naming the database that owns the spool. */
export const SPOOL_MARKER_FILE = "owner.json";

/** What the spool's owner marker says. */
export interface SpoolMarker {
  /** The owning database's store id (see store-identity.ts). */
  databaseId: string;
  /** Where that database was when it took the spool, without credentials: "PostgreSQL at db:5432/inbound". */
  database: string;
  /** When it took the spool (ISO-8601). */
  claimedAt: string;
}

/**
 * The owner marker of the spool in `dir`, or `null` when it has none yet (a
 * new data directory, or one from a version before markers). Throws
 * STORE_FAILED when the file cannot be read or is not a marker.
 *
 * @example
 * ```ts
 * const marker = await readSpoolMarker(spool.dir); // { databaseId: "0193…", database: "SQLite at /data/inbound.db", claimedAt: "…" } | null
 * ```
 */
export async function readSpoolMarker(dir: string): Promise<SpoolMarker | null> {
  const file = join(dir, SPOOL_MARKER_FILE);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw storeFailed("Raw spool", `cannot read its owner marker ${file}`, error);
  }
  const marker = parseMarker(text);
  if (marker === null) {
    throw new InboundError("STORE_FAILED", {
      message: `The raw spool's owner marker ${file} is damaged: it should name the database that owns the spool. Restore it from a backup of the data directory; until then Inbound neither takes mail into this spool nor deletes anything from it.`,
    });
  }
  return marker;
}

function parseMarker(text: string): SpoolMarker | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  const { databaseId, database, claimedAt } = (value ?? {}) as Record<string, unknown>;
  if (typeof databaseId !== "string" || databaseId === "" || typeof database !== "string" || typeof claimedAt !== "string") return null;
  return { databaseId, database, claimedAt };
}

/**
 * Write `marker` into `dir` unless the spool has a marker already, durably
 * (the file fsynced before it takes its name, the directory after), and
 * return the marker in place afterwards: `written` is false when another
 * process's marker was there first. The marker appears whole or not at all,
 * and never replaces one: it is written to a temporary name and hard-linked
 * to its own, which fails when that name exists.
 *
 * @example
 * ```ts
 * const { marker, written } = await writeSpoolMarker(spool.dir, { databaseId, database, claimedAt: toTimestamp() });
 * if (marker.databaseId !== databaseId) throw mismatch(marker);
 * ```
 */
export async function writeSpoolMarker(dir: string, marker: SpoolMarker): Promise<{ marker: SpoolMarker; written: boolean }> {
  const file = join(dir, SPOOL_MARKER_FILE);
  const temporary = join(dir, `${SPOOL_MARKER_FILE}.${newId()}.tmp`);
  let written = true;
  try {
    await ensureDir(dir);
    const handle = await open(temporary, "wx", 0o600);
    try {
      await handle.writeFile(`${JSON.stringify(marker, null, 2)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await link(temporary, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      written = false;
    } finally {
      await rm(temporary, { force: true });
    }
    await fsyncDir(dir);
  } catch (error) {
    throw storeFailed("Raw spool", `cannot write its owner marker ${file}`, error);
  }
  if (written) return { marker, written };
  const existing = await readSpoolMarker(dir);
  if (existing === null) throw storeFailed("Raw spool", `its owner marker ${file} vanished while it was written`, new Error("ENOENT"));
  return { marker: existing, written };
}
