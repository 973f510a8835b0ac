import type { ParsedMessage as MimeParsed } from "../mime/parse-message.js";
import type { AccountRecord } from "../store/account-repository.js";
import { appendOutbox } from "../store/append-outbox.js";
import type { Store } from "../store/store.js";

/** Per-account parse settings. */
export interface ProcessSettings {
  sanitize: boolean;
  inlineImages: boolean;
}

/** Parses a raw message file; in production a worker pool, so parsing uses every core. */
export type ParseFunction = (path: string, settings: ProcessSettings) => Promise<MimeParsed>;

/** What processing a set of messages came to. */
export interface ProcessResult {
  parsed: number;
  parseErrors: number;
}

/**
 * Turns stored raw messages into parsed ones: parse (off the main thread),
 * then in one transaction save fields and attachments and queue the
 * `message.received` event. A message that fails to parse is saved with its
 * parse error and still announced; it never stops the others.
 *
 * @example
 * ```ts
 * const processor = createMessageProcessor({ store, parse: (path, s) => pool.parse(path, { blobDir, ...s }) });
 * await processor.process(account, ["0193...", "0193..."]);
 * ```
 */
export interface MessageProcessor {
  process(account: Pick<AccountRecord, "id" | "sanitize" | "inlineImages">, messageIds: readonly string[]): Promise<ProcessResult>;
  /** Parse everything still pending (e.g. after a crash between store and parse). */
  processPending(accounts: (id: string) => Promise<Pick<AccountRecord, "id" | "sanitize" | "inlineImages">>, accountId?: string): Promise<ProcessResult>;
}

export function createMessageProcessor(options: { store: Store; parse: ParseFunction; concurrency?: number }): MessageProcessor {
  const { store, parse } = options;
  const concurrency = options.concurrency ?? 4;

  async function processOne(account: Pick<AccountRecord, "id" | "sanitize" | "inlineImages">, messageId: string, rawSha256: string): Promise<boolean> {
    let parsed: MimeParsed;
    try {
      parsed = await parse(store.blobs.path(rawSha256), { sanitize: account.sanitize, inlineImages: account.inlineImages });
    } catch (error) {
      // A crash of the parser itself is recorded like a parse error: the raw message stays stored.
      parsed = emptyParse(error instanceof Error ? error.message : String(error));
    }
    await store.transaction(async (trx) => {
      await store.messages.saveParsed(
        trx,
        messageId,
        {
          messageIdHeader: parsed.messageId ?? undefined,
          sentDate: parsed.date ?? undefined,
          subject: parsed.subject,
          from: parsed.from,
          to: parsed.to,
          cc: parsed.cc,
          bcc: parsed.bcc,
          replyTo: parsed.replyTo,
          headers: parsed.headers,
          textBody: parsed.text,
          htmlBody: parsed.html,
          sanitizedHtml: parsed.sanitizedHtml,
          parseError: parsed.parseError,
        },
        parsed.attachments.map((a) => ({
          id: a.id,
          filename: a.filename,
          contentType: a.contentType,
          size: a.size,
          contentId: a.contentId,
          disposition: a.disposition,
          sha256: a.sha256,
        })),
      );
      await appendOutbox(trx, { accountId: account.id, type: "message.received", payload: { messageId } });
    });
    return parsed.parseError === null;
  }

  async function run(items: Array<{ account: Pick<AccountRecord, "id" | "sanitize" | "inlineImages">; id: string; rawSha256: string }>): Promise<ProcessResult> {
    const result: ProcessResult = { parsed: 0, parseErrors: 0 };
    let next = 0;
    const worker = async () => {
      while (next < items.length) {
        const item = items[next++];
        const ok = await processOne(item.account, item.id, item.rawSha256);
        result.parsed++;
        if (!ok) result.parseErrors++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
    return result;
  }

  return {
    async process(account, messageIds) {
      const items = [];
      for (const id of messageIds) {
        const message = await store.messages.get(id);
        items.push({ account, id, rawSha256: message.rawSha256 });
      }
      return run(items);
    },
    async processPending(accounts, accountId) {
      const total: ProcessResult = { parsed: 0, parseErrors: 0 };
      for (;;) {
        const pending = await store.messages.pendingForProcessing(100, accountId);
        if (pending.length === 0) return total;
        const items = [];
        for (const p of pending) items.push({ account: await accounts(p.accountId), id: p.id, rawSha256: p.rawSha256 });
        const result = await run(items);
        total.parsed += result.parsed;
        total.parseErrors += result.parseErrors;
      }
    },
  };
}

function emptyParse(parseError: string): MimeParsed {
  return { messageId: null, subject: null, from: [], to: [], cc: [], bcc: [], replyTo: [], date: null, headers: [], text: null, html: null, sanitizedHtml: null, attachments: [], parseError };
}
