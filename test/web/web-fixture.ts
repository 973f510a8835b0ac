import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deflateSync, crc32 } from "node:zlib";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { startInboundService, type InboundService } from "../../src/cli/inbound-service.js";
import { mailboxPool, removeDovecotDir, startDovecot, type DovecotServer, type DovecotUser } from "../harness/dovecot.js";
import { TEST_KEY } from "../retrieval/retrieval-fixture.js";

export const ADMIN_PASSWORD = "admin-pass-123";
const ROOT = new URL("../../", import.meta.url).pathname;
const WEB_DIST = join(ROOT, "dist/web");

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** The service serves dist/web; build it when it is missing or older than web/ (npm test builds it first anyway). */
export function ensurePageBuilt(): void {
  const index = join(WEB_DIST, "index.html");
  if (existsSync(index) && statSync(index).mtimeMs >= newestMtime(join(ROOT, "web"))) return;
  execFileSync(join(ROOT, "node_modules/.bin/vite"), ["build", "--config", "web/vite.config.ts", "--logLevel", "warn"], { cwd: ROOT, stdio: "inherit" });
}

/** The service, a Dovecot with fresh mailboxes, and a headless Chromium signed in to nothing yet. */
export interface WebFixture {
  service: InboundService;
  dovecot: DovecotServer;
  boxes: DovecotUser[];
  browser: Browser;
  /** A fresh context (no cookies) at 1280 × 900 that accepts downloads and never reaches the internet. */
  newPage(): Promise<{ context: BrowserContext; page: Page }>;
  signIn(page: Page): Promise<void>;
  close(): Promise<void>;
}

export async function openWebFixture(boxCount = 2): Promise<WebFixture> {
  ensurePageBuilt();
  const dataDir = mkdtempSync(join(tmpdir(), "inbound-web-"));
  const boxes = mailboxPool(boxCount, "web");
  const dovecot = await startDovecot({ users: boxes });
  const service = await startInboundService({
    dataDir,
    env: { INBOUND_ENCRYPTION_KEY: TEST_KEY, INBOUND_ADMIN_PASSWORD: ADMIN_PASSWORD },
    host: "127.0.0.1",
    port: 0,
    inbound: { parseWorkers: 1 },
  });
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  return {
    service,
    dovecot,
    boxes,
    browser,
    async newPage() {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true, baseURL: service.url });
      // Remote images ("show images") must not wait on DNS in a test.
      await context.route((url) => !url.href.startsWith(service.url), (route) => route.abort());
      return { context, page: await context.newPage() };
    },
    async signIn(page) {
      await page.goto("/");
      await page.getByLabel("User name").fill("admin");
      await page.getByLabel("Password").fill(ADMIN_PASSWORD);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByRole("heading", { level: 1, name: "Accounts" }).waitFor();
    },
    async close() {
      await browser.close().catch(() => undefined);
      await service.close();
      await dovecot.stop();
      removeDovecotDir(dovecot);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A small PNG (a blue-to-orange gradient) so a rendered inline image is visible in screenshots. */
export function gradientPng(size = 48): Buffer {
  const rows: Buffer[] = [];
  for (let y = 0; y < size; y++) {
    const row = Buffer.alloc(1 + size * 3);
    for (let x = 0; x < size; x++) {
      const t = (x + y) / (2 * size);
      row[1 + x * 3] = Math.round(31 + t * 214);
      row[2 + x * 3] = Math.round(95 + t * 63);
      row[3 + x * 3] = Math.round(191 - t * 180);
    }
    rows.push(row);
  }
  const chunk = (type: string, data: Buffer) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, "ascii");
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
    return Buffer.concat([head, data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(Buffer.concat(rows))), chunk("IEND", Buffer.alloc(0))]);
}

function base64Lines(data: Buffer): string {
  return data.toString("base64").replace(/.{76}/g, "$&\r\n");
}

/** A plain message. */
export function plainMessage(subject: string, from: string, body: string, date = new Date()): string {
  return [`From: ${from}`, "To: support@example.com", `Subject: ${subject}`, `Date: ${date.toUTCString()}`, `Message-ID: <${subject.replace(/\W/g, "")}.${Date.now()}@example.com>`, "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "", body, ""].join("\r\n");
}

/** An HTML message with an inline (cid:) image, a remote image and a CSV attachment. */
export function richMessage(options: { subject: string; csv: Buffer; png: Buffer; html?: string; date?: Date }): string {
  const html =
    options.html ??
    `<html><body><h1 style="color:#1f5fbf">${options.subject}</h1><p>Numbers are up this quarter; the chart is below.</p>` +
      `<p><img src="cid:chart@example.com" alt="chart" width="96" height="96"></p>` +
      `<p><img src="https://tracker.example.com/pixel.png" alt="remote pixel" width="1" height="1"> <a href="https://example.com/report">Full report</a></p></body></html>`;
  return [
    `From: "Ann Sender" <ann@example.com>`,
    "To: Support <support@example.com>",
    "Cc: finance@example.com",
    `Subject: ${options.subject}`,
    `Date: ${(options.date ?? new Date()).toUTCString()}`,
    `Message-ID: <rich.${Date.now()}@example.com>`,
    "MIME-Version: 1.0",
    'Content-Type: multipart/mixed; boundary="mix"',
    "",
    "--mix",
    'Content-Type: multipart/related; boundary="rel"',
    "",
    "--rel",
    'Content-Type: multipart/alternative; boundary="alt"',
    "",
    "--alt",
    "Content-Type: text/plain; charset=utf-8",
    "",
    `${options.subject}: numbers are up this quarter.`,
    "--alt",
    "Content-Type: text/html; charset=utf-8",
    "",
    html,
    "--alt--",
    "--rel",
    "Content-Type: image/png",
    "Content-Transfer-Encoding: base64",
    "Content-ID: <chart@example.com>",
    'Content-Disposition: inline; filename="chart.png"',
    "",
    base64Lines(options.png),
    "--rel--",
    "--mix",
    'Content-Type: text/csv; name="report.csv"',
    'Content-Disposition: attachment; filename="report.csv"',
    "Content-Transfer-Encoding: base64",
    "",
    base64Lines(options.csv),
    "--mix--",
    "",
  ].join("\r\n");
}
