import { once } from "node:events";
import { createHash } from "node:crypto";
import { createWriteStream, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mailboxPool, startDovecot, type DovecotServer } from "../harness/dovecot.js";
import { makeMessage, openRetrievalFixture, type RetrievalFixture } from "./retrieval-fixture.js";

const ATTACHMENT_BYTES = 75 * 1024 * 1024; // ≈ 100 MB once base64-encoded

/** Write a ~100 MB message to a file without holding it in memory; returns its attachment's sha256 and size. */
async function writeHugeMessage(path: string): Promise<{ sha256: string; size: number }> {
  const out = createWriteStream(path);
  // events.once rejects on 'error' while it waits, without leaving a listener behind per write.
  const write = async (text: string): Promise<void> => {
    if (!out.write(text)) await once(out, "drain");
  };
  const hash = createHash("sha256");
  await write(makeMessage(1, { subject: "huge" }).replace("Content-Type: text/plain; charset=utf-8\r\n\r\nBody of message 1.\r\n", 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="big.bin"\r\n\r\n'));
  const chunk = Buffer.alloc(57 * 1024);
  let written = 0;
  for (let n = 0; written < ATTACHMENT_BYTES; written += chunk.length, n++) {
    chunk.fill(n % 251);
    hash.update(chunk);
    const lines = chunk.toString("base64").match(/.{1,76}/g) as string[];
    await write(lines.join("\r\n") + "\r\n");
  }
  await write("--b--\r\n");
  await new Promise<void>((resolve) => out.end(resolve));
  return { sha256: hash.digest("hex"), size: written };
}

describe("a 100 MB message", () => {
  let dovecot: DovecotServer;
  let fx: RetrievalFixture;
  let dir: string;
  let attachment: { sha256: string; size: number };

  beforeAll(async () => {
    dovecot = await startDovecot({ users: mailboxPool(3) });
    fx = await openRetrievalFixture("sqlite", dovecot);
    dir = mkdtempSync(join(tmpdir(), "inbound-huge-"));
    attachment = await writeHugeMessage(join(dir, "huge.eml"));
    // Start the parser threads first: their own baseline memory is not the message's.
    const warm = fx.newMailbox();
    dovecot.deliver(warm.user, makeMessage(1));
    await fx.inbound.addAccount(fx.account("warm-up", warm, { protocol: "imap", security: "none" }));
    await fx.inbound.fetch("warm-up");
  }, 120_000);
  afterAll(async () => {
    await fx?.close();
    await dovecot?.stop();
    // Unset when the Dovecot did not start: the start's own error is the one to read.
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it.each(["imap", "pop3"] as const)("streams to disk over %s: memory stays far below the message size", async (protocol) => {
    const box = fx.newMailbox();
    dovecot.deliverFile(box.user, join(dir, "huge.eml"));
    await fx.inbound.addAccount(fx.account(`huge-${protocol}`, box, { protocol, security: "none" }, { timeoutMs: 60_000 }));
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
    try {
      const summary = await fx.inbound.fetch(`huge-${protocol}`);
      expect(summary).toMatchObject({ stored: 1, parseErrors: 0 });
    } finally {
      clearInterval(sampler);
    }
    const growthMb = (peak - baseline) / 1024 / 1024;
    // Measured here: ≈ 35 MB for the IMAP download (1 MB partial fetches awaiting GC) plus the
    // parser thread's working set. Buffering the 108 MB message once, plus its decoded
    // 79 MB attachment, would be far above this bound.
    expect(growthMb).toBeLessThan(100);
    const [message] = (await fx.inbound.listMessages({ account: `huge-${protocol}` })).items;
    expect(message.size).toBeGreaterThan(100_000_000);
    const full = await fx.inbound.getMessage(message.id);
    expect(full.attachments).toHaveLength(1);
    expect(full.attachments[0]).toMatchObject({ filename: "big.bin", ...attachment });
    console.log(`${protocol}: RSS growth ${growthMb.toFixed(1)} MB for a ${(message.size / 1e6).toFixed(0)} MB message`);
  }, 180_000);
});
