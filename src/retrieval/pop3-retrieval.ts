import type { Readable } from "node:stream";
import { connectPop3, type Pop3Client } from "../protocols/pop3/pop3-client.js";
import type { TakenMessage } from "../store/message-repository.js";
import { sourceKey } from "../store/source-key.js";
import { accountConnection } from "./account-connection.js";
import { confirmLeftovers, reportLeftOnServer } from "./leftovers.js";
import { runBatches, type Batch, type RawTaker } from "./raw-taker.js";
import { chunks, type ProtocolRun } from "./retrieve-account.js";

/**
 * The POP3 half of a retrieval. The UIDL ledger is the checkpoint: a message
 * whose UIDL is stored is never fetched again. Deletions only take effect at
 * QUIT (RFC 1939 UPDATE state), so after a batch's commit its DELEs are sent
 * and the session is closed with QUIT before the next batch; a crash before
 * QUIT rolls the deletions back on the server, which is safe.
 */
export async function retrievePop3(run: ProtocolRun): Promise<void> {
  const { account, store } = run;
  const connect = () =>
    connectPop3(accountConnection(account, run.password, run.signal));
  let client: Pop3Client = await connect();
  try {
    run.progress({ phase: "planning" });
    const listing = await client.uidl();
    const sizes = new Map((await client.list()).map((entry) => [entry.number, entry.size]));
    const stored = await store.messages.storedUidls(account.id);
    const deleting = account.after === "delete";
    // A UIDL the server lists twice does not say which message is stored: no DELE goes by it.
    const listed = new Map<string, number>();
    for (const entry of listing) listed.set(entry.uidl, (listed.get(entry.uidl) ?? 0) + 1);
    const deletable = (entry: { uidl: string }) => listed.get(entry.uidl) === 1;
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
    run.progress({ phase: "taking", total: plan.length });

    if (leftovers.length > 0) {
      await client.dele(leftovers.map((entry) => entry.number));
      run.counters.postActions += leftovers.length;
    }
    const batches = chunks(plan, account.batchSize);
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
        fetch: (taker) => client.retrieve(entries.map((entry) => entry.number), take(taker)),
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
            if (index < batches.length - 1) {
              // QUIT makes this batch's deletions final; message numbers stay valid in the new session
              // only for the messages we have not deleted, so re-list them by UIDL.
              await client.quit();
              client = await connect();
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
    // Batches are made one at a time: deleting renumbers the ones after. Without deletions
    // message numbers are stable, so the next batch downloads while this one commits.
    const all = function* () {
      for (let index = 0; index < batches.length; index++) yield batch(index);
    };
    await runBatches(store.spool, all(), { overlap: !deleting });
    await client.quit();
  } catch (error) {
    // No QUIT: the server rolls back any DELE of this session, which is the safe direction.
    client.close();
    throw error;
  }
}
