import type { Readable } from "node:stream";
import { abortableSleep } from "../core/abortable-sleep.js";
import type { RetrRefusal } from "../protocols/pop3/commands/retr.js";
import type { Pop3Capabilities } from "../protocols/pop3/pop3-capabilities.js";
import { connectPop3, type Pop3Client } from "../protocols/pop3/pop3-client.js";
import { Pop3ReplyError } from "../protocols/pop3/pop3-reply-error.js";
import type { TakenMessage } from "../store/message-repository.js";
import { appendOutbox } from "../store/append-outbox.js";
import { POP3_SOURCE_KEY_PREFIX, sourceKey } from "../store/source-key.js";
import { accountConnection } from "./account-connection.js";
import { sniffHeaders } from "./header-sniffer.js";
import { confirmLeftovers, nameFirstFive, reportLeftOnServer, warnAboutSource } from "./leftovers.js";
import { runBatches, type Batch, type RawTaker } from "./raw-taker.js";
import { chunks, type ProtocolRun } from "./retrieve-account.js";

/**
 * The account points at another mailbox now: the UIDLs it stored name other
 * messages there, or the same ones (the same maildrop under a new host name,
 * or reached by POP3 instead of IMAP). Read each listed message's header
 * (TOP n 0) and link those whose Message-ID, size and date match a stored
 * message under their UIDL, so they are not stored twice; the rest are
 * fetched as new. A server without TOP (it refuses the first) gets no
 * matching: everything there is fetched, which may store a message twice
 * but never loses one.
 */
async function resynchronisePop3(run: ProtocolRun, client: Pop3Client, listing: ReadonlyArray<{ number: number; uidl: string }>, sizes: ReadonlyMap<number, number>): Promise<void> {
  const { account, store } = run;
  const found: Array<{ uidl: string; messageIdHeader: string | null; size: number; date: Date | null }> = [];
  let noTop: string | null = null;
  for (const [i, entry] of listing.entries()) {
    try {
      const headers = sniffHeaders(await client.top(entry.number, 0));
      found.push({ uidl: entry.uidl, messageIdHeader: headers.messageId, size: sizes.get(entry.number) ?? -1, date: headers.date });
    } catch (error) {
      if (!(error instanceof Pop3ReplyError)) throw error;
      // The first refusal answers TOP itself; a later one is about its message alone, which is fetched as new.
      if (i > 0) continue;
      noTop = error.message;
      break;
    }
  }
  let relinked = 0;
  await store.transaction(async (trx) => {
    for (const message of noTop === null ? found : []) {
      const match = await store.messages.findResyncMatch(account.id, null, { messageIdHeader: message.messageIdHeader, size: message.size, sentDate: message.date, notLinkedUnder: POP3_SOURCE_KEY_PREFIX, anyFolder: true }, trx);
      if (!match.found) continue;
      const { linked } = await store.messages.linkSource(trx, account.id, sourceKey({ protocol: "pop3", uidl: message.uidl }), match.messageId);
      if (linked) relinked++;
    }
    const data = { reason: "mailbox_changed", onServer: listing.length, relinked, ...(noTop === null ? {} : { serverRefusedTop: noTop }) };
    const rest = noTop === null ? "the rest will be fetched" : `the server refused TOP (${noTop}), so all of them will be fetched, and any already stored is stored again`;
    await store.events.append(trx, {
      accountId: account.id,
      type: "mailbox.reset",
      level: "warn",
      message: `The account points at another mailbox now; ${relinked} of ${listing.length} message(s) there matched stored ones, ${rest}.`,
      data,
    });
    await appendOutbox(trx, { accountId: account.id, type: "mailbox.reset", payload: data });
  });
}

/**
 * Waits before logging in again after a re-login refused with `[IN-USE]`.
 * Some servers hold the mailbox lock for a moment after QUIT while they
 * apply the deletions; a few short retries ride that out. A longer lock is
 * left to the next run (the batches done so far are committed and deleted),
 * so a run never sits for minutes on one account. Other refusals are not
 * retried: `[LOGIN-DELAY]` lasts minutes, `[AUTH]` will not change.
 */
const RELOGIN_RETRY_DELAYS_MS = [500, 1_000, 2_000];

/**
 * The POP3 half of a retrieval. The UIDL ledger is the checkpoint: a message
 * whose UIDL is stored is never fetched again. Deletions only take effect at
 * QUIT (RFC 1939 UPDATE state), so after a batch's commit its DELEs are sent
 * and the session is closed with QUIT before the next batch; a crash before
 * QUIT rolls the deletions back on the server, which is safe. A server that
 * announces LOGIN-DELAY would refuse that next login, so there the whole run
 * is one session with one QUIT at the end; deletions a crash rolls back are
 * redone by the next run (see confirmLeftovers).
 *
 * A message the server refuses to RETR is skipped (not stored, not deleted,
 * its UIDL not recorded, so the next run tries it again) and reported as a
 * `source.refused` warning event; the rest of its batch is taken as usual.
 */
export async function retrievePop3(run: ProtocolRun): Promise<void> {
  const { account, store } = run;
  const connect = () =>
    connectPop3(accountConnection(account, run.password, run.signal));
  let client: Pop3Client = await connect();
  const refused: RefusedMessage[] = [];
  // Reports each refusal once, whether the run ends well or not.
  const reportRefusals = () => reportRefused(run, refused.splice(0));
  try {
    run.progress({ phase: "planning" });
    const listing = await client.uidl();
    const sizes = new Map((await client.list()).map((entry) => [entry.number, entry.size]));
    const deleting = account.after === "delete";
    // A UIDL the server lists twice does not say which message is stored: no DELE goes by it.
    const listed = new Map<string, number>();
    for (const entry of listing) listed.set(entry.uidl, (listed.get(entry.uidl) ?? 0) + 1);
    const deletable = (entry: { uidl: string }) => listed.get(entry.uidl) === 1;
    let stored = await store.messages.storedUidls(account.id);
    if (stored.size === 0 && listing.length > 0 && (await store.messages.hasRetiredSources(account.id))) {
      // The account points at another mailbox now (see Inbound.updateAccount): its first run there
      // that finds mail (until then there is nothing to match, and nothing to say).
      await resynchronisePop3(run, client, listing.filter(deletable), sizes);
      stored = await store.messages.storedUidls(account.id);
    }
    if (deleting) {
      await reportLeftOnServer(run, listing.filter((entry) => !deletable(entry)).map((entry) => ({ message: `message ${entry.number} (UIDL ${entry.uidl})`, storedSize: null, serverSize: sizes.get(entry.number) ?? null })), "the server lists their UIDL more than once, so it does not identify one message");
    }
    // Stored but still on the server (crash between commit and QUIT): delete them now, those whose
    // LIST size is still the stored one (see confirmLeftovers).
    const leftovers = deleting
      ? await confirmLeftovers(run, listing.filter((entry) => stored.has(entry.uidl) && deletable(entry)).map((entry) => ({
          key: sourceKey({ protocol: "pop3", uidl: entry.uidl }),
          serverSize: sizes.get(entry.number) ?? -1,
          label: `message ${entry.number} (UIDL ${entry.uidl})`,
          item: entry,
        })))
      : [];
    let plan = listing.filter((entry) => !stored.has(entry.uidl));
    if (account.strategy === "latest") plan.reverse();
    if (!account.all) plan = plan.slice(0, account.limit);
    // The ledger keeps one message per UIDL: of messages sharing one, only the first is stored.
    // Said once, in the run that takes them (with after=delete it is said above, at every run).
    if (!deleting) await reportSharedUidls(run, plan.filter((entry) => !deletable(entry)));
    run.progress({ phase: "taking", total: plan.length });

    if (leftovers.length > 0) {
      await client.dele(leftovers.map((entry) => entry.number));
      run.counters.postActions += leftovers.length;
    }
    const batches = chunks(plan, account.batchSize);
    // One session for the run: within it message numbers never change, deleted or not (RFC 1939 §5).
    const oneSession = !deleting || announcesLoginDelay(client.capabilities);
    const batch = (index: number): Batch => {
      const entries = batches[index];
      const byNumber = new Map(entries.map((entry) => [entry.number, entry.uidl]));
      const order = new Map(entries.map((entry, i) => [entry.uidl, i]));
      const rows: TakenMessage[] = [];
      const take = (taker: RawTaker) => (number: number, body: Readable) => taker.take(body, (raw) => {
        const uidl = byNumber.get(number) as string;
        run.counters.fetched++;
        rows.push({
          accountId: account.id,
          sourceKey: sourceKey({ protocol: "pop3", uidl }),
          folder: null,
          uidValidity: null,
          uid: null,
          uidl,
          rawSha256: raw.sha256,
          size: raw.size ?? sizes.get(number) ?? 0,
          spool: raw.spool,
          internalDate: null,
          flags: [],
          messageIdHeader: raw.headers.messageId,
          sentDate: raw.headers.date,
          subject: raw.headers.subject,
        });
      });
      return {
        fetch: async (taker) => {
          const result = await client.retrieve(entries.map((entry) => entry.number), take(taker));
          for (const refusal of result.refused) refused.push({ ...refusal, uidl: byNumber.get(refusal.number) as string });
        },
        took: () => rows.length > 0,
        commit: () => {
          rows.sort((a, b) => (order.get(a.uidl as string) as number) - (order.get(b.uidl as string) as number));
          return run.commit(rows);
        },
        after: async () => {
          if (deleting && rows.length > 0) {
            // The batch is committed: only now may the server copy go.
            const taken = new Set(rows.map((r) => r.uidl));
            const dele = entries.filter((entry) => taken.has(entry.uidl) && deletable(entry));
            await client.dele(dele.map((entry) => entry.number));
            run.counters.postActions += dele.length;
            if (!oneSession && index < batches.length - 1) {
              // QUIT makes this batch's deletions final; message numbers stay valid in the new session
              // only for the messages we have not deleted, so re-list them by UIDL.
              await client.quit();
              client = await relogin(connect, run.signal);
              const renumber = new Map((await client.uidl()).map((entry) => [entry.uidl, entry.number]));
              for (const later of batches.slice(index + 1)) {
                for (const entry of later) entry.number = renumber.get(entry.uidl) ?? -1;
              }
              for (const [i, later] of batches.entries()) if (i > index) batches[i] = later.filter((entry) => entry.number > 0);
            }
          }
          run.progress({ taken: run.counters.fetched });
        },
      };
    };
    // Batches are made one at a time: a new session renumbers the ones after. In one session
    // message numbers are stable, so the next batch downloads while this one commits.
    const all = function* () {
      for (let index = 0; index < batches.length; index++) yield batch(index);
    };
    await runBatches(store.spool, all(), { overlap: oneSession });
    await client.quit();
    await reportRefusals();
  } catch (error) {
    // No QUIT: the server rolls back any DELE of this session, which is the safe direction.
    client.close();
    await reportRefusals().catch(() => undefined);
    throw error;
  }
}

/** Record (as a `source.mismatch` warning event) messages whose UIDL the server also gives another message. */
async function reportSharedUidls(run: ProtocolRun, shared: ReadonlyArray<{ number: number; uidl: string }>): Promise<void> {
  if (shared.length === 0) return;
  const shown = nameFirstFive(shared, (entry) => `message ${entry.number} (UIDL ${entry.uidl})`);
  await warnAboutSource(
    run,
    "source.mismatch",
    `${shared.length} message(s) (${shown}) share their UIDL with another message on the server. ` +
      "Inbound keeps one message per UIDL, so only the first with each UIDL is stored; the others stay on the server only. " +
      "A server should give every message its own UIDL (RFC 1939): check them there, or ask its admin.",
    { after: run.account.after, messages: shared.slice(0, 100).map((entry) => ({ number: entry.number, uidl: entry.uidl })) },
  );
}

/** A message the server would not RETR, with the UIDL it was listed under. */
interface RefusedMessage extends RetrRefusal {
  uidl: string;
}

/**
 * True when the server limits how often one may log in (RFC 2449 §6.5
 * LOGIN-DELAY). A value that is missing or not a number counts as a delay.
 */
function announcesLoginDelay(capabilities: Pop3Capabilities): boolean {
  const args = capabilities.get("LOGIN-DELAY");
  return args !== undefined && Number(args[0] ?? Number.NaN) !== 0;
}

/** Log in again, retrying a short while when the mailbox is still locked ([IN-USE]). */
async function relogin(connect: () => Promise<Pop3Client>, signal: AbortSignal | undefined): Promise<Pop3Client> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await connect();
    } catch (error) {
      const locked = error instanceof Pop3ReplyError && error.responseCode?.toUpperCase() === "IN-USE";
      if (!locked || attempt >= RELOGIN_RETRY_DELAYS_MS.length || signal?.aborted) throw error;
      // Cut short when the run is cancelled: the next connect then fails with ABORTED.
      await abortableSleep(RELOGIN_RETRY_DELAYS_MS[attempt], signal);
    }
  }
}

/**
 * Record (as a `source.refused` warning event) messages the server would
 * not hand over. They stay on the server and are tried again next run.
 */
async function reportRefused(run: ProtocolRun, refused: readonly RefusedMessage[]): Promise<void> {
  if (refused.length === 0) return;
  // The server's words are untrusted and a status line may be long: show the start only.
  const said = (r: RefusedMessage) => `-ERR${r.responseCode ? ` [${r.responseCode}]` : ""}${r.serverText ? ` ${r.serverText.slice(0, 200)}` : ""}`;
  const shown = nameFirstFive(refused, (r) => `UIDL ${r.uidl}: server said "${said(r)}"`, "; ");
  await warnAboutSource(
    run,
    "source.refused",
    `The server refused to hand over ${refused.length} message(s) (${shown}). They were skipped and left on the server (nothing stored, nothing deleted); the other messages were taken as usual, and the next run tries these again. If this repeats, the message is likely damaged or blocked on the server: open it in webmail or ask the provider, then delete or repair it there.`,
    { messages: refused.slice(0, 100).map((r) => ({ uidl: r.uidl, number: r.number, responseCode: r.responseCode, serverText: r.serverText })) },
  );
}
