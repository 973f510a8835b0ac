import { execFileSync } from "node:child_process";
import { chownSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MAIL_USER, type DovecotServer } from "../../harness/dovecot.js";

/** Where the UIDs of {@link fillGappedMailbox} start and how far apart they are. */
export interface GappedUids {
  /** Default 1,000,001: seven digits, as in a folder that has seen a million messages. */
  firstUid?: number;
  /** Default 2: every other UID is missing, as after years of deletions. */
  step?: number;
}

/**
 * Fill a user's INBOX, which Dovecot must not have opened yet, with
 * `messages` whose UIDs have gaps (firstUid, firstUid + step, ...), and
 * return those UIDs. The files go straight into the Maildir with a
 * `dovecot-uidlist` naming each one's UID: delivering and expunging ten
 * thousands of messages through IMAP would take minutes.
 *
 * @example
 * ```ts
 * const uids = fillGappedMailbox(dovecot, "alice", ["Subject: a\r\n\r\nx\r\n", "Subject: b\r\n\r\ny\r\n"]);
 * // [1000001, 1000003]
 * ```
 */
export function fillGappedMailbox(dovecot: DovecotServer, user: string, messages: ReadonlyArray<string | Buffer>, gaps: GappedUids = {}): number[] {
  const { firstUid = 1_000_001, step = 2 } = gaps;
  const maildir = dovecot.maildir(user);
  if (existsSync(join(maildir, "dovecot-uidlist"))) throw new Error(`fillGappedMailbox: ${user}'s INBOX has been opened already; use a fresh mailbox.`);
  const uid = Number(execFileSync("id", ["-u", MAIL_USER]).toString().trim());
  const gid = Number(execFileSync("id", ["-g", MAIL_USER]).toString().trim());
  const uids = messages.map((_, i) => firstUid + i * step);
  const uidValidity = 1_000_000 + Math.floor(Math.random() * 1_000_000_000);
  const lines = [`3 V${uidValidity} N${uids[uids.length - 1] + 1}`];
  messages.forEach((raw, i) => {
    const name = `${Date.now()}.G${i}P${process.pid}.gapped`;
    const file = join(maildir, "cur", `${name}:2,`);
    writeFileSync(file, raw);
    chownSync(file, uid, gid);
    lines.push(`${uids[i]} :${name}`);
  });
  const list = join(maildir, "dovecot-uidlist");
  writeFileSync(list, `${lines.join("\n")}\n`);
  chownSync(list, uid, gid);
  return uids;
}
