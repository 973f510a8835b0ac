import type { ProtocolRun } from "./retrieve-account.js";

/** A message on the server whose source key the ledger holds, with what the server says of it. */
export interface Leftover<T> {
  /** Its source key (see `sourceKey`). */
  key: string;
  /** Its size on the server now (RFC822.SIZE, or the POP3 LIST size). */
  serverSize: number;
  /** How a person finds it on the server, e.g. `UID 42` or `UIDL 0000abcd`. */
  label: string;
  item: T;
}

/**
 * Of the messages stored but still on the server (a crash came between a
 * batch's commit and its delete or move), those it is safe to act on now:
 * the server's copy must still have the size of the stored one. A key alone
 * is not proof: a POP3 server may hand a used UIDL to a new message, and an
 * account pointed at another mailbox finds the same UIDs or UIDLs there.
 * Deleting such a message would lose mail that was never stored, so it is
 * left on the server and a `source.mismatch` warning event says so.
 *
 * @example
 * ```ts
 * const safe = await confirmLeftovers(run, leftovers.map((uid) => ({ key: keyOf(uid), serverSize: sizes.get(uid), label: `UID ${uid}`, item: uid })));
 * await afterAction(run, session, safe);
 * ```
 */
export async function confirmLeftovers<T>(run: ProtocolRun, leftovers: ReadonlyArray<Leftover<T>>): Promise<T[]> {
  if (leftovers.length === 0) return [];
  const { store, account } = run;
  const stored = await store.messages.storedSizes(account.id, leftovers.map((l) => l.key));
  const safe: T[] = [];
  const mismatched: LeftOnServer[] = [];
  for (const leftover of leftovers) {
    const size = stored.get(leftover.key);
    if (size === leftover.serverSize) safe.push(leftover.item);
    else mismatched.push({ message: leftover.label, storedSize: size ?? null, serverSize: leftover.serverSize });
  }
  await reportLeftOnServer(run, mismatched, "each carries the UID or UIDL of a stored message but not its size, so it is another message (the server reuses identities, or the account now points at another mailbox)");
  return safe;
}

/** One message Inbound would have deleted or moved, but did not. */
export interface LeftOnServer {
  /** How a person finds it on the server, e.g. `UID 42` or `UIDL 0000abcd`. */
  message: string;
  storedSize: number | null;
  serverSize: number | null;
}

/**
 * Record a warning event (`source.mismatch`, `source.refused`, ...) about
 * messages on the account's server that a run left alone, for the account's log.
 */
export async function warnAboutSource(run: ProtocolRun, type: string, message: string, data: Record<string, unknown>): Promise<void> {
  await run.store.events.append({ accountId: run.account.id, type, level: "warn", message, data });
}

/** The first five of `items` as `name` shows them, with "..." when there are more: for a warning's words. */
export function nameFirstFive<T>(items: readonly T[], name: (item: T) => string, separator = ", "): string {
  return `${items.slice(0, 5).map(name).join(separator)}${items.length > 5 ? `${separator}...` : ""}`;
}

/**
 * Record (as a `source.mismatch` warning event) messages left on the server
 * because their identity there does not prove they are the stored message.
 */
export async function reportLeftOnServer(run: ProtocolRun, left: readonly LeftOnServer[], why: string): Promise<void> {
  if (left.length === 0) return;
  const action = run.account.after === "move" ? "moved" : "deleted";
  await warnAboutSource(run, "source.mismatch", `${left.length} message(s) (${nameFirstFive(left, (m) => m.message)}) were left on the server, not ${action}: ${why}. Check them on the server.`, {
    after: run.account.after,
    messages: left.slice(0, 100),
  });
}
