import type { Readable } from "node:stream";
import { InboundError } from "../core/inbound-error.js";
import type { AttachmentRecord, MessageRecord } from "../store/message-repository.js";
import type { Store } from "../store/store.js";

/** A stored message as an in-process handler receives it: parsed fields, attachment metadata and ways to read the bytes. */
export interface ReceivedMessage extends MessageRecord {
  /** The `message.received` event id: the same on every retry and replay; deduplicate on it. */
  eventId: string;
  account: { id: string; name: string | null };
  attachments: AttachmentRecord[];
  /** The original .eml bytes. */
  openRaw(): Readable;
  /** One attachment's decoded bytes, by id or record. Throws ATTACHMENT_NOT_FOUND for an attachment of another message. */
  openAttachment(attachment: string | AttachmentRecord): Readable;
}

/**
 * Load what a `message.received` event refers to. Throws MESSAGE_NOT_FOUND
 * when the message is gone (its account was removed).
 *
 * @example
 * ```ts
 * const message = await loadReceivedMessage(store, event.id, event.payload.messageId as string);
 * for (const a of message.attachments) await pipeline(message.openAttachment(a), createWriteStream(a.filename ?? a.id));
 * ```
 */
export async function loadReceivedMessage(store: Store, eventId: string, messageId: string): Promise<ReceivedMessage> {
  const message = await store.messages.get(messageId);
  const attachments = await store.messages.attachments(messageId);
  const accountName = await store.accounts.get(message.accountId).then((a) => a.name, () => null);
  const location = await store.messages.rawLocation(messageId);
  return {
    ...message,
    eventId,
    account: { id: message.accountId, name: accountName },
    attachments,
    openRaw: () => store.openRaw(location),
    openAttachment(attachment) {
      const id = typeof attachment === "string" ? attachment : attachment.id;
      const record = attachments.find((a) => a.id === id);
      if (!record) throw new InboundError("ATTACHMENT_NOT_FOUND", { message: `The message ${messageId} has no attachment ${id}.`, details: { id, messageId } });
      return store.blobs.createReadStream(record.sha256);
    },
  };
}
