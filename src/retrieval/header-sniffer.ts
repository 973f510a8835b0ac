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
  const text = head.subarray(0, SNIFF_LIMIT).toString("latin1");
  const end = text.search(/\r?\n\r?\n/);
  const block = end === -1 ? text : text.slice(0, end);
  const messageIdRaw = unfoldedField(block, "Message-ID");
  const messageId = messageIdRaw ? (/<[^<>\s]+>/.exec(messageIdRaw)?.[0] ?? messageIdRaw.split(/\s/)[0]) : null;
  const dateRaw = unfoldedField(block, "Date");
  const parsedDate = dateRaw ? new Date(dateRaw.replace(/\s*\([^)]*\)\s*$/, "")) : null;
  return {
    messageId: messageId || null,
    date: parsedDate && !Number.isNaN(parsedDate.getTime()) ? parsedDate : null,
    subject: unfoldedField(block, "Subject"),
  };
}
