import type { Executor } from "./executor.js";

/*
 * A lane position is a number from one counter, `delivery_dispatch.last_seq`.
 * It is only ever taken while holding that row's lock (the dispatch lock), so
 * positions are handed out in the order dispatches (and replays) commit, and
 * a dispatch sees only committed events: a lane ordered by position follows
 * what became visible when, which event ids (each machine's clock at append
 * time) do not.
 */

/**
 * Take `count` consecutive positions in `trx` and return the first. Locks the
 * dispatch row until `trx` ends, like {@link lockDispatch}.
 *
 * @example
 * ```ts
 * const first = await takeLanePositions(trx, events.length); // events[i] goes at first + i
 * ```
 */
export async function takeLanePositions(trx: Executor, count: number): Promise<number> {
  const row = await trx
    .updateTable("delivery_dispatch")
    .set((eb) => ({ last_seq: eb("last_seq", "+", count) }))
    .where("id", "=", 1)
    .returning("last_seq")
    .executeTakeFirstOrThrow();
  return Number(row.last_seq) - count + 1;
}

/**
 * The last position handed out. Read it under the dispatch lock to know that
 * every later dispatch hands out greater ones.
 *
 * @example
 * ```ts
 * await lockDispatch(trx);
 * const upTo = await lastLanePosition(trx); // dispatched so far: positions 1..upTo
 * ```
 */
export async function lastLanePosition(trx: Executor): Promise<number> {
  const row = await trx.selectFrom("delivery_dispatch").select("last_seq").where("id", "=", 1).executeTakeFirstOrThrow();
  return Number(row.last_seq);
}
