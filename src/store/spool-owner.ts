import { InboundError } from "../core/inbound-error.js";
import type { EventRepository } from "./event-repository.js";
import type { MessageRepository } from "./message-repository.js";
import type { RawSpool } from "./raw-spool.js";
import { readSpoolMarker, SPOOL_MARKER_FILE, writeSpoolMarker, type SpoolMarker } from "./spool-marker.js";
import { toTimestamp } from "./timestamp.js";

/** Whose the raw spool is, as one database sees it. */
export type SpoolOwnership =
  /** This database's: it may take mail into the spool and sweep it. */
  | { state: "owned" }
  /** Another database's (its marker names another store id). */
  | { state: "foreign"; owner: SpoolMarker }
  /** Nobody's yet, and not safe to claim: segments no message of this database points into, sorted. */
  | { state: "unclaimed"; unreferenced: string[] };

/** The raw spool's owner, as one database sees it; see {@link createSpoolOwner}. */
export interface SpoolOwner {
  /** This database's store id. */
  readonly databaseId: string;
  /** Whose the spool is; claims it for this database first when it has no owner yet and that is safe. */
  check(): Promise<SpoolOwnership>;
  /** Resolves once this database owns the spool (claiming it if safe); else throws {@link SpoolOwner.notOwnedError}'s error. */
  assertOwned(): Promise<void>;
  /** STORE_MISMATCH saying whose the spool is, or why it is nobody's, and what to do. */
  notOwnedError(ownership: Exclude<SpoolOwnership, { state: "owned" }>): InboundError;
}

/** Segment names quoted in a message, and listed in its details (a spool may hold thousands). */
const NAMED_SEGMENTS = 5;
const LISTED_SEGMENTS = 100;

/**
 * Which database the raw spool belongs to. Only the owner may delete
 * segments (the sweep) or add them (a take): only the owner's rows say which
 * segments hold messages, and to any other database every segment looks like
 * an orphan. Otherwise a process started on the same data directory with
 * another database (DATABASE_URL unset on a PostgreSQL deployment, so a fresh
 * SQLite file) would delete every segment an hour old: raw mail whose server
 * copy may be gone.
 *
 * The owner is the database whose store id the spool's marker file names.
 * A spool without one (a new data directory, or one from before markers) is
 * claimed by the first process to take into it or sweep it, but only when
 * that is safe: when every segment in it is one a message of this database
 * points into (trivially so when there are none). Then nothing in it can be
 * another database's mail. A segment nothing here points into may be another
 * database's mail, the newer mail of a database restored from an older
 * backup, or a leftover of an interrupted run; Inbound cannot tell them apart,
 * so it claims nothing, sweeps nothing and takes nothing until someone has
 * looked. The marker never changes once written, so "owned" is remembered.
 *
 * @example
 * ```ts
 * const owner = createSpoolOwner({ spool, databaseId: database.id, database: database.description, messages, events });
 * const ownership = await owner.check();
 * if (ownership.state === "owned") await sweep();
 * else await events.append({ accountId: null, type: "spool.sweep_skipped", level: "warn", message: owner.notOwnedError(ownership).message });
 * ```
 */
export function createSpoolOwner(options: {
  spool: Pick<RawSpool, "dir" | "list">;
  databaseId: string;
  /** Where this database is, for messages (see `describeDatabase`). */
  database: string;
  messages: Pick<MessageRepository, "spoolSegmentsInUse">;
  events: Pick<EventRepository, "append">;
}): SpoolOwner {
  const { spool, databaseId, database, messages, events } = options;
  let owned = false;
  let checking: Promise<SpoolOwnership> | null = null;

  function judge(marker: SpoolMarker): SpoolOwnership {
    if (marker.databaseId !== databaseId) return { state: "foreign", owner: marker };
    owned = true;
    return { state: "owned" };
  }

  async function claim(segments: number): Promise<SpoolOwnership> {
    const { marker, written } = await writeSpoolMarker(spool.dir, { databaseId, database, claimedAt: toTimestamp() });
    if (written) {
      // Only a note: the marker is what counts, and it is in place.
      await events
        .append({ accountId: null, type: "spool.claimed", level: "info", message: `The raw spool ${spool.dir} now belongs to this database, ${databaseId} (${database}); every one of the ${segments} segment(s) in it holds messages of this database.`, data: { spoolDir: spool.dir, databaseId, database, segments } })
        .catch(() => undefined);
    }
    return judge(marker);
  }

  async function evaluate(): Promise<SpoolOwnership> {
    const marker = await readSpoolMarker(spool.dir);
    if (marker !== null) return judge(marker);
    const segments = (await spool.list()).map((s) => s.segment);
    const inUse = await messages.spoolSegmentsInUse(segments);
    const unreferenced = segments.filter((segment) => !inUse.has(segment)).sort();
    if (unreferenced.length === 0) return claim(segments.length);
    // A process writes the marker before its first segment: one that claimed the spool meanwhile
    // may be what wrote the segment this database does not know.
    const now = await readSpoolMarker(spool.dir);
    return now === null ? { state: "unclaimed", unreferenced } : judge(now);
  }

  function check(): Promise<SpoolOwnership> {
    if (owned) return Promise.resolve({ state: "owned" });
    checking ??= evaluate().finally(() => {
      checking = null;
    });
    return checking;
  }

  function notOwnedError(ownership: Exclude<SpoolOwnership, { state: "owned" }>): InboundError {
    const self = `${databaseId} (${database})`;
    if (ownership.state === "foreign") {
      const { owner } = ownership;
      return new InboundError("STORE_MISMATCH", {
        message:
          `The raw spool ${spool.dir} belongs to another database, ${owner.databaseId} (${owner.database}), not to this one, ${self}: ` +
          "its messages are not in this database, so Inbound neither takes mail into it nor deletes anything from it. " +
          `Point DATABASE_URL at the database the spool belongs to (${owner.database}), or give this database a data directory of its own with --data-dir (INBOUND_DATA_DIR).`,
        details: { spoolDir: spool.dir, spoolDatabaseId: owner.databaseId, spoolDatabase: owner.database, spoolClaimedAt: owner.claimedAt, databaseId, database },
      });
    }
    const { unreferenced } = ownership;
    const named = unreferenced.slice(0, NAMED_SEGMENTS).map((segment) => `${segment}.seg`).join(", ");
    const more = unreferenced.length > NAMED_SEGMENTS ? ` and ${unreferenced.length - NAMED_SEGMENTS} more` : "";
    return new InboundError("STORE_MISMATCH", {
      message:
        `The raw spool ${spool.dir} has no owner yet (no ${SPOOL_MARKER_FILE}), and ${unreferenced.length} segment file(s) in it hold nothing this database, ${self}, points into: ${named}${more}. ` +
        "They may be another database's mail, newer mail of a database restored from an older backup, or leftovers of interrupted runs, so Inbound neither takes mail into this spool nor deletes anything from it. " +
        "If DATABASE_URL and --data-dir are the ones this data directory has always been used with, move those files out of the spool directory (keep them until you are sure) and try again; " +
        "otherwise point DATABASE_URL at the database this data directory belongs to.",
      // Moving files out is enough: no restart needed, so a later attempt may succeed.
      retryable: true,
      details: { spoolDir: spool.dir, unreferencedCount: unreferenced.length, unreferenced: unreferenced.slice(0, LISTED_SEGMENTS), databaseId, database },
    });
  }

  return {
    databaseId,
    check,
    notOwnedError,
    async assertOwned() {
      const ownership = await check();
      if (ownership.state !== "owned") throw notOwnedError(ownership);
    },
  };
}

/**
 * `spool` with its writes guarded: a new segment is created only once the
 * spool belongs to this database (claimed if safe), else STORE_MISMATCH. A
 * take into another database's spool would leave its messages where that
 * database's sweep deletes them after the server copy is gone.
 *
 * @example
 * ```ts
 * const spool = guardSpoolWrites(createRawSpool(dir), owner);
 * await spool.create(); // throws STORE_MISMATCH when the spool is another database's
 * ```
 */
export function guardSpoolWrites(spool: RawSpool, owner: SpoolOwner): RawSpool {
  return {
    ...spool,
    async create() {
      await owner.assertOwned();
      return spool.create();
    },
  };
}
