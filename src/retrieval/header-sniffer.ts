/** The few header fields needed before a message is parsed: identity for a UIDVALIDITY resync, and a subject for progress. */
export interface SniffedHeaders {
  messageId: string | null;
  date: Date | null;
  subject: string | null;
}

/** Header bytes looked at; a header block longer than this is left to the full parser. */
export const SNIFF_LIMIT = 64 * 1024;

function unfoldedField(block: string, name: string): string | null {
  const pattern = new RegExp(`^${name}:[ \\t]*((?:.*)(?:\\r?\\n[ \\t].*)*)`, "im");
  const match = pattern.exec(block);
  return match ? match[1].replace(/\r?\n[ \t]+/g, " ").trim() : null;
}

/**
 * Read Message-ID, Date and Subject from the start of a raw message, cheaply
 * and without decoding MIME: the raw Subject may still hold RFC 2047 words.
 *
 * @example
 * ```ts
 * sniffHeaders(Buffer.from("Message-ID: <a@b>\r\nSubject: hi\r\n\r\nbody")).messageId; // "<a@b>"
 * ```
 */
export function sniffHeaders(head: Buffer): SniffedHeaders {
  const bytes = head.subarray(0, SNIFF_LIMIT);
  // Decode only the header block: the values below would otherwise be slices of a 64 KB
  // string and keep all of it alive for as long as a batch's rows live.
  const blank = bytes.indexOf("\n\r\n", 0, "latin1");
  const bare = bytes.indexOf("\n\n", 0, "latin1");
  const end = blank === -1 ? bare : bare === -1 ? blank : Math.min(blank, bare);
  const block = bytes.toString("latin1", 0, end === -1 ? bytes.length : end);
  const messageIdRaw = unfoldedField(block, "Message-ID");
  const messageId = messageIdRaw ? (/<[^<>\s]+>/.exec(messageIdRaw)?.[0] ?? messageIdRaw.split(/\s/)[0]) : null;
  const dateRaw = unfoldedField(block, "Date");
  const parsedDate = dateRaw ? new Date(dateRaw.replace(/\s*\([^)]*\)\s*$/, "")) : null;
  return {
    messageId: own(messageId || null),
    date: parsedDate && !Number.isNaN(parsedDate.getTime()) ? parsedDate : null,
    subject: own(unfoldedField(block, "Subject")),
  };
}

/** A copy that shares no storage with the header block it was cut from. */
function own(value: string | null): string | null {
  return value === null ? null : Buffer.from(value, "latin1").toString("latin1");
}
