/**
 * The time that leases and retry schedules are written and compared in: the
 * database server's clock, so processes on several machines sharing one
 * PostgreSQL agree on when a lease ends whatever their own clocks say. Each
 * machine reads the server's clock now and then and keeps its offset; a
 * reading costs one round trip, and the offset is off by at most half of it.
 * With SQLite the database lives in this process: its clock is this one.
 *
 * Without this, a machine whose clock ran ahead by more than a lease's time
 * (a VM without NTP, a container after a host suspend) judged other
 * machines' live leases expired and took them: two runs of one account, or
 * one webhook delivery sent twice at once.
 */
export interface DatabaseClock {
  /** Now, in ms since the epoch, on the database's clock. */
  now(): number;
  /** A time read off this machine's clock (`Date.now()` + a delay), moved onto the database's clock. */
  fromLocal(localMs: number): number;
  /** How far the database's clock is ahead of this machine's (negative: behind), as last read. */
  readonly offsetMs: number;
  /** Read the database's clock again now. */
  sync(): Promise<void>;
  /** Stop reading it. */
  close(): void;
}

export interface DatabaseClockOptions {
  /** Reads the database server's clock, in ms since the epoch. Absent: this machine's clock is the database's (SQLite). */
  readServerMs?: () => Promise<number>;
  /** How often to read it again. Default 60 s. */
  resyncMs?: number;
  /** Told when a reading fails (the last offset stays in use). */
  onError?: (error: unknown) => void;
  /** This machine's clock. Default `Date.now`; a test passes a skewed one to play another machine. */
  localMs?: () => number;
}

/**
 * A clock on the database's time; call `sync()` once before using it when
 * the database is on another machine.
 *
 * @example
 * ```ts
 * const clock = createDatabaseClock({ readServerMs: () => readPostgresClock(db) });
 * await clock.sync();
 * const expiresAt = toTimestamp(clock.now() + 30_000);
 * clock.close();
 * ```
 */
export function createDatabaseClock(options: DatabaseClockOptions = {}): DatabaseClock {
  const { readServerMs } = options;
  const local = options.localMs ?? Date.now;
  let offsetMs = 0;
  let timer: NodeJS.Timeout | undefined;

  async function sync(): Promise<void> {
    if (readServerMs === undefined) return;
    const sent = local();
    const server = await readServerMs();
    const received = local();
    // The server read its clock somewhere in the round trip: assume the middle.
    offsetMs = server - (sent + received) / 2;
  }

  if (readServerMs !== undefined) {
    timer = setInterval(() => sync().catch((error: unknown) => options.onError?.(error)), options.resyncMs ?? 60_000);
    timer.unref();
  }

  return {
    now: () => local() + offsetMs,
    fromLocal: (localMs) => localMs + offsetMs,
    get offsetMs() {
      return offsetMs;
    },
    sync,
    close() {
      clearInterval(timer);
    },
  };
}
