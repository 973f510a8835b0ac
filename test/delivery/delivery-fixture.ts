import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createSecretBox, keyIdOf, type SecretBox } from "../../src/auth/secret-box.js";
import { appendOutbox } from "../../src/store/append-outbox.js";
import type { Store } from "../../src/store/store.js";
import { takenImap } from "../store/fixtures.js";

/** A fresh secret box over one random key (hex, so a child process can rebuild it). */
export function testBox(keyHex = randomBytes(32).toString("hex")): { box: SecretBox; keyHex: string } {
  const key = Buffer.from(keyHex, "hex");
  return { box: createSecretBox({ keys: [key], activeKeyId: keyIdOf(key) }), keyHex };
}

let nextUid = 1;

/** Store one parsed message with an attachment and its `message.received` event, in one transaction, as retrieval does. */
export async function storeMessage(store: Store, accountId: string, subject = `Message ${nextUid}`): Promise<{ messageId: string; eventId: string }> {
  const uid = nextUid++;
  return store.transaction(async (trx) => {
    const { inserted } = await store.messages.insertTaken(trx, [takenImap(accountId, uid, { subject })]);
    const messageId = inserted[0];
    await store.messages.saveParsed(
      trx,
      messageId,
      {
        subject,
        from: [{ name: "Ann Sender", address: "ann@example.com" }],
        to: [{ name: "", address: "support@example.com" }],
        cc: [],
        bcc: [],
        replyTo: [],
        headers: [{ key: "subject", line: `Subject: ${subject}` }],
        textBody: `Body of ${subject}`,
        htmlBody: `<p>Body of ${subject}</p><script>x()</script>`,
        sanitizedHtml: `<p>Body of ${subject}</p>`,
      },
      [{ filename: "invoice.pdf", contentType: "application/pdf", size: 1234, contentId: null, disposition: "attachment", sha256: "b".repeat(64) }],
    );
    const eventId = await appendOutbox(trx, { accountId, type: "message.received", payload: { messageId } });
    return { messageId, eventId };
  });
}

/** One request a receiver got. */
export interface ReceivedRequest {
  path: string;
  headers: IncomingMessage["headers"];
  body: string;
  /** The status it was answered with (`0` when the receiver hung up). */
  status: number;
}

/** What the receiver answers: a status, optionally after a delay, with extra headers. */
export type Answer = number | { status: number; delayMs?: number; headers?: Record<string, string> };

/** A real HTTP server receiving webhooks, answering by `respond`. */
export interface Receiver {
  url: string;
  port: number;
  requests: ReceivedRequest[];
  respond: (request: { path: string; body: string; n: number }) => Answer;
  /** Stop listening (connections refused) until {@link Receiver.listen}. */
  stop(): Promise<void>;
  listen(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Start a receiver on a loopback port.
 *
 * @example
 * ```ts
 * const receiver = await startReceiver(() => 200);
 * ```
 */
export async function startReceiver(respond: Receiver["respond"] = () => 200, port = 0): Promise<Receiver> {
  let server: Server | undefined;
  const receiver: Receiver = {
    url: "",
    port,
    requests: [],
    respond,
    async listen() {
      server = createServer((req: IncomingMessage, res: ServerResponse) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
          const body = Buffer.concat(chunks).toString("utf8");
          const answer = receiver.respond({ path: req.url ?? "/", body, n: receiver.requests.length });
          const { status, delayMs = 0, headers = {} } = typeof answer === "number" ? { status: answer } : answer;
          const record: ReceivedRequest = { path: req.url ?? "/", headers: req.headers, body, status };
          receiver.requests.push(record);
          const send = () => {
            if (res.destroyed) return;
            res.writeHead(status, headers).end(status >= 400 ? "nope" : "ok");
          };
          if (delayMs > 0) setTimeout(send, delayMs).unref();
          else send();
        });
      });
      server.keepAliveTimeout = 500;
      await new Promise<void>((resolve) => server!.listen(receiver.port, "127.0.0.1", resolve));
      receiver.port = (server.address() as AddressInfo).port;
      receiver.url = `http://127.0.0.1:${receiver.port}/hooks/inbound`;
    },
    async stop() {
      const s = server;
      server = undefined;
      if (!s) return;
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    close: () => receiver.stop(),
  };
  await receiver.listen();
  return receiver;
}

/** Wait until `check` returns true (polling), or fail after `timeoutMs` with `what`. */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Short retries for tests. */
export const FAST_RETRY = { maxAttempts: 4, baseDelayMs: 30, maxDelayMs: 100 };
