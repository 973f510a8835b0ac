/**
 * Longest UID set put in one command. Servers cap a command line (Dovecot at
 * 64 KB: "Too long argument"), and a folder with gaps in its UIDs needs ~6
 * characters a UID, so a few thousand UIDs already overrun it; 8 KB leaves
 * room for the rest of the line on any server.
 */
export const UID_SET_MAX_LENGTH = 8 * 1024;

/**
 * Compress UIDs into one IMAP sequence set ("1:3,5,7,9:10"), sorted, of any
 * length. For a command, use {@link uidSets}.
 *
 * @example
 * ```ts
 * uidSet([5, 1, 2, 3, 9, 10, 7]); // "1:3,5,7,9:10"
 * ```
 */
export function uidSet(uids: readonly number[]): string {
  return uidSets(uids, Number.POSITIVE_INFINITY).join(",");
}

/**
 * Compress UIDs into IMAP sequence sets, in ascending order, each at most
 * `maxLength` characters long (a single range is never split, and is always
 * short): one command per set keeps every command line within the server's
 * limit. No UIDs, no sets.
 *
 * @example
 * ```ts
 * for (const set of uidSets(uids)) await client.messageFlagsAdd(set, ["\\Seen"], { uid: true });
 * ```
 */
export function uidSets(uids: readonly number[], maxLength = UID_SET_MAX_LENGTH): string[] {
  const sorted = [...uids].sort((a, b) => a - b);
  const sets: string[] = [];
  let current = "";
  const add = (part: string) => {
    if (current.length > 0 && current.length + 1 + part.length > maxLength) {
      sets.push(current);
      current = "";
    }
    current = current.length > 0 ? `${current},${part}` : part;
  };
  let start = sorted[0];
  let prev = sorted[0];
  for (let i = 1; i <= sorted.length; i++) {
    const uid = sorted[i];
    if (uid === prev || uid === prev + 1) {
      prev = uid;
      continue;
    }
    if (start !== undefined) add(start === prev ? String(start) : `${start}:${prev}`);
    start = uid;
    prev = uid;
  }
  if (current.length > 0) sets.push(current);
  return sets;
}
