import type { Readable } from "node:stream";
import { openImapSession, type ImapMessageMeta, type ImapRemoveData, type ImapSession, type ImapSizeMismatch } from "../protocols/imap/imap-session.js";
import { appendOutbox } from "../store/append-outbox.js";
import type { TakenMessage } from "../store/message-repository.js";
import { sourceKey } from "../store/source-key.js";
import { accountConnection } from "./account-connection.js";
import { confirmLeftovers, nameFirstFive, warnAboutSource } from "./leftovers.js";
import { runBatches, type Batch, type RawTaker } from "./raw-taker.js";
import { chunks, type ProtocolRun } from "./retrieve-account.js";

/**
 * The IMAP half of a retrieval. Plan: every UID in the folder that the ledger
 * does not hold under the current UIDVALIDITY, ordered by the account's
 * strategy and cut to its limit (unless it replicates everything). Each batch
 * is streamed to blobs, committed with the checkpoint, and only then marked
 * seen, deleted or moved.
 */
export async function retrieveImap(run: ProtocolRun): Promise<void> {
  const { account, store } = run;
  const session = await openImapSession(accountConnection(account, run.password, run.signal));
  try {
    run.progress({ phase: "planning" });
    const folder = account.folder;
    const status = await session.select(folder);
    const checkpoint = await store.checkpoints.get(account.id, folder);
    const uids = await session.searchAll();
    if (checkpoint && checkpoint.uidValidity !== status.uidValidity) {
      await resynchronise(run, session, folder, checkpoint.uidValidity, status.uidValidity, uids);
    } else if (!checkpoint && (await store.messages.hasRetiredSources(account.id))) {
      // The account points at another mailbox now (see Inbound.updateAccount): this folder's first run there.
      await resynchronise(run, session, folder, null, status.uidValidity, uids);
    }
    const stored = await store.messages.storedImapUids(account.id, folder, status.uidValidity);
    // UIDs whose message this run knows to be stored (and the same on the server): only they may
    // go with an EXPUNGE that, without UIDPLUS, removes every \Deleted message of the folder.
    const removable = new Set<number>();
    // Ours left flagged \Deleted because that EXPUNGE was withheld, until a later one takes them.
    const withheld = new Set<number>();
    let blockers: number[] = [];
    const act = async (uids: number[], resumed: boolean) => {
      const removal = await afterAction(run, session, uids, removable, resumed);
      if (removal.withheld.length > 0) {
        for (const uid of removal.withheld) withheld.add(uid);
        blockers = removal.blockers;
      } else if (removal.removed.length > 0 && withheld.size > 0) {
        // That EXPUNGE removed every \Deleted message: the withheld ones (all removable) too.
        run.counters.postActions += withheld.size;
        withheld.clear();
      }
    };
    // Stored but still on the server: a crash came between commit and after-action, or an EXPUNGE
    // was withheld (see afterAction). Finish it, for those whose size on the server is still the
    // stored one (see confirmLeftovers).
    if (account.after !== "none") {
      const leftovers = uids.filter((uid) => stored.has(uid));
      const sizes = await session.fetchSizes(leftovers);
      const keyOf = (uid: number) => sourceKey({ protocol: "imap", folder, uidValidity: status.uidValidity, uid });
      const confirmed = await confirmLeftovers(run, leftovers.map((uid) => ({ key: keyOf(uid), serverSize: sizes.get(uid) ?? -1, label: `UID ${uid}`, item: uid })));
      for (const uid of confirmed) removable.add(uid);
      await act(confirmed, true);
    }
    let plan = uids.filter((uid) => !stored.has(uid));
    if (account.strategy === "latest") plan.reverse();
    if (!account.all) plan = plan.slice(0, account.limit);
    // What plans each batch's FETCH commands, for the whole plan at once rather than per batch.
    const sizes = await session.sizeBounds(plan);
    run.progress({ phase: "taking", total: plan.length });

    const batch = (uids: number[]): Batch => {
      const rows: TakenMessage[] = [];
      const sizeMismatches: ImapSizeMismatch[] = [];
      const take = (taker: RawTaker) => (meta: ImapMessageMeta, body: Readable | Buffer) => taker.take(body, (raw) => {
        run.counters.fetched++;
        rows.push({
          accountId: account.id,
          sourceKey: sourceKey({ protocol: "imap", folder, uidValidity: status.uidValidity, uid: meta.uid }),
          folder,
          uidValidity: status.uidValidity,
          uid: meta.uid,
          uidl: null,
          rawSha256: raw.sha256,
          size: raw.size,
          spool: raw.spool,
          internalDate: meta.internalDate,
          flags: meta.flags,
          // fetchRaw asks no ENVELOPE: these come from the message's own header (the parser fills any gap).
          messageIdHeader: raw.headers.messageId,
          sentDate: raw.headers.date,
          subject: raw.headers.subject,
        });
      });
      return {
        fetch: async (taker) => {
          const report = await session.fetchRaw(uids, take(taker), sizes);
          sizeMismatches.push(...report.sizeMismatches);
        },
        took: () => rows.length > 0,
        commit: () => {
          rows.sort((a, b) => (a.uid as number) - (b.uid as number));
          const highest = Math.max(...rows.map((r) => r.uid ?? 0));
          return run.commit(rows, async (trx) => {
            await store.checkpoints.advance(trx, account.id, folder, status.uidValidity, highest);
          });
        },
        after: async () => {
          // The batch is committed: only now may the server copy change.
          for (const row of rows) removable.add(row.uid as number);
          await act(rows.map((r) => r.uid as number), false);
          await reportSizeMismatches(run, sizeMismatches);
          run.progress({ taken: run.counters.fetched });
        },
      };
    };
    // UIDs stay valid whatever the after-action did, so the next batch downloads while this one commits.
    await runBatches(store.spool, chunks(plan, account.batchSize).map(batch), { overlap: true });
    if (withheld.size > 0) await reportWithheldExpunge(run, [...withheld].sort((a, b) => a - b), blockers);
  } finally {
    await session.close();
  }
}

/**
 * Mark seen, delete or move `uids` (stored and committed; `resumed` when an
 * earlier run may have begun this already). Without UIDPLUS the server's
 * EXPUNGE may be withheld (see ImapSession.deleteMessages): they then stay
 * flagged \Deleted, and the next run finds them among the leftovers and
 * tries again.
 */
async function afterAction(run: ProtocolRun, session: ImapSession, uids: number[], alsoRemovable: ReadonlySet<number>, resumed: boolean): Promise<ImapRemoveData> {
  const { account } = run;
  let removal: ImapRemoveData = { removed: [], withheld: [], blockers: [] };
  if (uids.length === 0) return removal;
  if (account.markSeen) await session.addFlags(uids, ["\\Seen"]);
  if (account.after === "delete") removal = await session.deleteMessages(uids, { alsoRemovable });
  else if (account.after === "move" && account.moveTo) removal = await session.moveMessages(uids, account.moveTo, { alsoRemovable, resumed });
  if (account.markSeen || account.after !== "none") run.counters.postActions += uids.length - removal.withheld.length;
  return removal;
}

/**
 * Record (as a `source.expunge_withheld` warning event) stored messages a run
 * left in the folder flagged `\Deleted`: the server has no UIDPLUS, and its
 * EXPUNGE would also have removed messages another client flagged and
 * Inbound never stored. Each run tries again; the message says how to end it.
 */
async function reportWithheldExpunge(run: ProtocolRun, withheld: number[], blockers: number[]): Promise<void> {
  const { account } = run;
  const list = (uids: number[]) => nameFirstFive(uids, (uid) => `UID ${uid}`);
  const where = account.after === "move" ? `copied to "${account.moveTo}" but left in "${account.folder}"` : `left in "${account.folder}"`;
  const message =
    `${withheld.length} stored message(s) (${list(withheld)}) were ${where}, flagged \\Deleted, not expunged: the server does not offer UIDPLUS, ` +
    `so its EXPUNGE would also remove ${blockers.length} message(s) (${list(blockers)}) that another client flagged \\Deleted and Inbound never stored. ` +
    "Each run tries again, and the EXPUNGE goes through once Inbound has stored those too or they are gone; to end it sooner, expunge the folder in a mail client " +
    "(that removes those too, as their flag asks) or enable UIDPLUS on the server.";
  await warnAboutSource(run, "source.expunge_withheld", message, { after: account.after, folder: account.folder, withheld: withheld.slice(0, 100), blockers: blockers.slice(0, 100) });
}

/**
 * Record (as a `source.size_mismatch` warning event) stored messages whose
 * bytes differ from the size the server announced. They were stored as the
 * server sent them (it had nothing beyond), so nothing is missing; but a
 * crash between commit and after-action leaves them on the server for good,
 * since a leftover is deleted or moved only when its size on the server is
 * the stored one (see confirmLeftovers).
 */
async function reportSizeMismatches(run: ProtocolRun, mismatches: readonly ImapSizeMismatch[]): Promise<void> {
  if (mismatches.length === 0) return;
  const shown = nameFirstFive(mismatches, (m) => `UID ${m.uid}: ${m.received} bytes, announced ${m.announced}`, "; ");
  await warnAboutSource(
    run,
    "source.size_mismatch",
    `The server announced another size than it sent for ${mismatches.length} message(s) (${shown}). Each was stored as sent, since the server holds nothing beyond it. ` +
      "Its index is likely stale: ask its administrator to rebuild it (for Dovecot, `doveadm force-resync`).",
    { folder: run.account.folder, messages: mismatches.slice(0, 100) },
  );
}

/**
 * The folder's UIDVALIDITY changed, or the account points at another mailbox
 * (`oldValidity` null): every old UID is meaningless. Match the messages now
 * on the server to stored ones by Message-ID + size + date and link them
 * under their new UIDs, so they are neither stored twice nor lost; whatever
 * does not match is fetched as new.
 */
async function resynchronise(run: ProtocolRun, session: ImapSession, folder: string, oldValidity: string | null, newValidity: string, uids: number[]): Promise<void> {
  const { account, store } = run;
  const metas = await session.fetchMeta(uids);
  let relinked = 0;
  let highest = 0;
  await store.transaction(async (trx) => {
    for (const meta of metas) {
      // After a mailbox change the stored messages may have come from another folder, or by POP3, which records none.
      const match = await store.messages.findResyncMatch(account.id, folder, { messageIdHeader: meta.messageId, size: meta.size, sentDate: meta.date, uidValidity: newValidity, anyFolder: oldValidity === null }, trx);
      if (!match.found) continue;
      const { linked } = await store.messages.linkSource(trx, account.id, sourceKey({ protocol: "imap", folder, uidValidity: newValidity, uid: meta.uid }), match.messageId);
      if (linked) relinked++;
      highest = Math.max(highest, meta.uid);
    }
    await store.checkpoints.advance(trx, account.id, folder, newValidity, highest);
    const data = { folder, reason: oldValidity === null ? "mailbox_changed" : "uidvalidity_changed", oldUidValidity: oldValidity, newUidValidity: newValidity, onServer: metas.length, relinked };
    const what = oldValidity === null ? `The account points at another mailbox now` : `UIDVALIDITY of "${folder}" changed from ${oldValidity} to ${newValidity}`;
    await store.events.append(trx, {
      accountId: account.id,
      type: "mailbox.reset",
      level: "warn",
      message: `${what}; ${relinked} of ${metas.length} message(s) in "${folder}" matched stored ones, the rest will be fetched.`,
      data,
    });
    await appendOutbox(trx, { accountId: account.id, type: "mailbox.reset", payload: data });
  });
}
