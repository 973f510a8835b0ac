import { existsSync } from "node:fs";
import { readFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gradientPng, openWebFixture, plainMessage, richMessage, type WebFixture } from "./web-fixture.js";

const SCREENSHOTS = new URL("../../docs/screenshots/", import.meta.url).pathname;
const SCRATCH = join(tmpdir(), "inbound-web-screenshots");

/**
 * Where a screenshot goes: docs/screenshots when asked (`UPDATE_SCREENSHOTS=1`)
 * or missing, else a scratch dir, so a test run does not leave the committed
 * pictures changed (ports and dates differ each run).
 */
function screenshotPath(name: string): string {
  const committed = join(SCREENSHOTS, name);
  return process.env.UPDATE_SCREENSHOTS === "1" || !existsSync(committed) ? committed : join(SCRATCH, name);
}

/** Console errors of the page itself (a CSP violation of the page would show here); the message frame's own blocked remote image is expected. */
function watchConsole(page: Page): string[] {
  const problems: string[] = [];
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    if (message.location().url.includes("/html")) return;
    if (/Content Security Policy|Refused to/i.test(message.text())) problems.push(message.text());
  });
  page.on("pageerror", (error) => problems.push(`pageerror: ${error.message}`));
  return problems;
}

/** Screenshots without a passing toast. (Playwright's `style` option would add an inline style, which the page's CSP refuses.) */
async function hideToast(page: Page): Promise<void> {
  await page.evaluate("document.querySelector('.toast')?.setAttribute('hidden', '')");
}

describe("admin page in headless Chromium", () => {
  let fx: WebFixture;
  const csv = Buffer.from("quarter,revenue\r\nQ1,1200\r\nQ2,1350\r\n", "utf8");
  const png = gradientPng();

  beforeAll(async () => {
    await mkdir(SCREENSHOTS, { recursive: true });
    await mkdir(SCRATCH, { recursive: true });
    fx = await openWebFixture(2);
    const [box] = fx.boxes;
    fx.dovecot.deliver(box.name, plainMessage("Welcome aboard", '"Bo Admin" <bo@example.com>', "Hello and welcome.", new Date(Date.now() - 3 * 86_400_000)));
    fx.dovecot.deliver(box.name, plainMessage("Invoice 2026-118", "billing@vendor.example", "Your invoice is attached (not really).", new Date(Date.now() - 2 * 86_400_000)));
    fx.dovecot.deliver(box.name, richMessage({ subject: "Quarterly report", csv, png, date: new Date(Date.now() - 86_400_000) }));
  });

  afterAll(async () => {
    await fx?.close();
  });

  it("signs in, adds an IMAP account, tests, fetches, reads HTML with an inline image, downloads, sees live mail, edits and deletes", async () => {
    const [box] = fx.boxes;
    const { context, page } = await fx.newPage();
    const problems = watchConsole(page);
    try {
      // Sign in: a wrong password is said plainly, the right one opens the overview.
      await page.goto("/");
      await page.getByLabel("User name").fill("admin");
      await page.getByLabel("Password").fill("wrong-password");
      await page.getByRole("button", { name: "Sign in" }).click();
      await expect.poll(() => page.getByRole("alert").textContent()).toContain("wrong");
      await page.getByLabel("Password").fill("admin-pass-123");
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByRole("heading", { level: 1, name: "Accounts" }).waitFor();
      await page.getByText("No accounts yet").waitFor();

      // Add an account: the API's field errors appear next to their fields.
      await page.getByRole("link", { name: "Add account" }).click();
      await page.getByRole("heading", { name: "Add account" }).waitFor();
      const unlabelled = await page.evaluate(
        "[...document.querySelectorAll('input, select, textarea')].filter((e) => e.labels.length === 0 && !e.getAttribute('aria-label')).map((e) => e.name || e.outerHTML)",
      );
      expect(unlabelled).toEqual([]);
      expect(await page.getByLabel("Port").inputValue()).toBe("993");
      await page.getByLabel("Protocol").selectOption("imap");
      expect(await page.getByLabel("Port").inputValue()).toBe("143");
      await page.getByLabel("Security").selectOption("none");
      await page.getByLabel("Name", { exact: true }).fill("support team");
      await page.getByRole("button", { name: "Add account" }).click();
      await page.getByText("Name may hold letters").waitFor();
      await page.getByText("Host must not be empty").waitFor();
      expect(await page.getByLabel("Host").getAttribute("aria-invalid")).toBe("true");

      await page.getByLabel("Name", { exact: true }).fill("support");
      await page.getByLabel("Host").fill("127.0.0.1");
      await page.getByLabel("Port").fill(String(fx.dovecot.ports.imap));
      await page.getByLabel("User name").fill(box.name);
      await page.getByLabel("Password").fill(box.password);
      await page.getByLabel("Messages per retrieval").fill("100");
      await page.getByLabel("Messages per retrieval").blur();
      await page.screenshot({ path: screenshotPath("account-form.png"), fullPage: true });
      await page.getByRole("button", { name: "Add account" }).click();
      await page.getByRole("heading", { level: 1, name: "Accounts" }).waitFor();
      const row = page.locator('tr[data-account="support"]');
      await row.waitFor();
      expect(await row.textContent()).toContain(`127.0.0.1:${fx.dovecot.ports.imap}`);

      // Test connection: works, in plain words.
      await page.getByRole("button", { name: "Test support" }).click();
      await expect.poll(() => page.locator(".notice").textContent()).toMatch(/support: connection works.*Signed in/);

      // Fetch now: progress shows in the row, then the finish and the new count.
      await page.evaluate(
        "window.__states = []; new MutationObserver(() => window.__states.push(document.querySelector('tr[data-account=\"support\"] .badge')?.textContent)).observe(document.querySelector('tbody'), { subtree: true, childList: true, characterData: true })",
      );
      await page.getByRole("button", { name: "Fetch now support" }).click();
      await expect.poll(() => page.locator(".notice").textContent(), { timeout: 20_000 }).toContain("fetch finished — 3 new message(s) stored");
      await expect.poll(() => row.locator('td[data-label="Messages"]').textContent()).toBe("3");
      expect(((await page.evaluate("window.__states")) as string[]).some((s) => s?.startsWith("fetching"))).toBe(true);

      // Messages: search and open the HTML one.
      await page.getByRole("link", { name: "Messages of support" }).click();
      await page.getByRole("heading", { name: "Messages of support" }).waitFor();
      await expect.poll(() => page.locator("tr[data-message]").count()).toBe(3);
      await page.getByLabel("Subject contains").fill("quarterly");
      await page.getByRole("button", { name: "Search" }).click();
      await expect.poll(() => page.locator("tr[data-message]").count()).toBe(1);
      await page.getByRole("link", { name: "Quarterly report" }).click();
      await page.getByRole("heading", { level: 1, name: "Quarterly report" }).waitFor();
      expect(await page.locator(".headers").textContent()).toContain("Ann Sender <ann@example.com>");

      // The HTML body is in a frame without scripts or same-origin, from the API's sanitized view.
      const frame = page.locator("iframe.html-body");
      expect(await frame.getAttribute("sandbox")).toBe("allow-popups allow-popups-to-escape-sandbox");
      const src = await frame.getAttribute("src");
      expect(src).toMatch(/^\/api\/v1\/messages\/[^/]+\/html$/);
      const body = page.frameLocator("iframe.html-body");
      await body.getByText("Numbers are up this quarter").waitFor();
      // The inline image arrived as a data: URL (a sandboxed frame cannot send the cookie) and decoded.
      const chart = body.getByAltText("chart");
      expect(await chart.getAttribute("src")).toMatch(/^data:image\/png;base64,/);
      const html = await page.request.get(src!);
      expect(html.headers()["content-security-policy"]).toContain("sandbox");
      expect(await html.text()).toContain(`data:image/png;base64,${png.toString("base64").slice(0, 40)}`);
      const shot = await chart.screenshot();
      expect(shot.length).toBeGreaterThan(0);
      expect(await body.getByAltText("remote pixel").getAttribute("src")).toBe("https://tracker.example.com/pixel.png");
      await hideToast(page);
      await page.screenshot({ path: screenshotPath("message-view.png"), fullPage: true });
      await page.getByRole("button", { name: "Show images" }).click();
      await expect.poll(() => frame.getAttribute("src")).toMatch(/\/html\?remoteImages=true$/);

      // Download the attachment: the stored bytes, under its name.
      const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: "report.csv" }).click()]);
      expect(download.suggestedFilename()).toBe("report.csv");
      expect(await readFile((await download.path())!)).toEqual(csv);

      // Subscribe, then a message delivered to the mailbox appears in the open list without a reload.
      await page.getByRole("link", { name: "Accounts", exact: true }).first().click();
      await page.getByRole("button", { name: "Subscribe support" }).click();
      await expect.poll(() => row.locator(".badge").textContent(), { timeout: 20_000 }).toBe("subscribed");
      // Two more accounts for the picture: a POP3 one, and a subscribed one whose password the server refuses.
      const [, other] = fx.boxes;
      await fx.service.inbound.addAccount({ name: "sales", protocol: "pop3", security: "none", host: "127.0.0.1", port: fx.dovecot.ports.pop3, username: other.name, password: other.password });
      await fx.service.inbound.addAccount({ name: "billing", protocol: "imap", security: "none", host: "127.0.0.1", port: fx.dovecot.ports.imap, username: other.name, password: "an-old-password" });
      await page.reload();
      await page.getByRole("button", { name: "Subscribe billing" }).click();
      // Live: the failed sign-in reaches the row without a reload.
      await expect.poll(() => page.locator('tr[data-account="billing"] .badge').textContent(), { timeout: 20_000 }).toMatch(/failed: authentication|retrying in \d+ s \(authentication\)/);
      await expect.poll(() => row.locator(".badge").textContent(), { timeout: 20_000 }).toBe("subscribed");
      await hideToast(page);
      await page.screenshot({ path: screenshotPath("overview.png") });
      await page.setViewportSize({ width: 375, height: 800 });
      expect(await page.evaluate("document.documentElement.scrollWidth")).toBeLessThanOrEqual(375);
      await page.screenshot({ path: screenshotPath("overview-phone.png") });
      await page.setViewportSize({ width: 1280, height: 900 });
      await fx.service.inbound.unsubscribe("billing");
      await fx.service.inbound.removeAccount("billing");
      await fx.service.inbound.removeAccount("sales");

      await page.getByRole("link", { name: "Messages of support" }).click();
      await expect.poll(() => page.locator("tr[data-message]").count()).toBe(3);
      await page.evaluate("window.__sameDocument = true");
      fx.dovecot.deliver(box.name, plainMessage("Live arrival", "carol@example.com", "Arrived while you were looking."));
      await page.getByRole("link", { name: "Live arrival" }).waitFor({ timeout: 30_000 });
      expect(await page.evaluate("window.__sameDocument")).toBe(true);
      expect(await page.locator("tr.fresh").count()).toBe(1);

      // Edit: the folder picker comes from the server; the password is kept when left empty.
      await page.getByRole("link", { name: "Accounts", exact: true }).first().click();
      await page.getByRole("link", { name: "Edit support" }).click();
      await page.getByRole("heading", { name: "Edit support" }).waitFor();
      expect(await page.getByLabel("Password").inputValue()).toBe("");
      await page.getByRole("button", { name: "Load folders from server" }).click();
      await page.getByText(/folder\(s\) on the server/).waitFor();
      expect(await page.getByLabel("Folder", { exact: true }).evaluate((e) => e.tagName)).toBe("SELECT");
      await page.getByLabel("Folder", { exact: true }).selectOption("INBOX");
      await page.getByLabel("Messages per retrieval").fill("20");
      await page.getByLabel("Then, on the server").selectOption("move");
      await page.getByRole("button", { name: "Save changes" }).click();
      await page.getByText("Move to folder is required when after is move").waitFor();
      await page.getByLabel("Then, on the server").selectOption("none");
      await page.getByRole("button", { name: "Test connection" }).click();
      await expect.poll(() => page.locator(".notice-ok").textContent()).toContain("Connection works");
      await page.getByRole("button", { name: "Save changes" }).click();
      await page.getByRole("heading", { level: 1, name: "Accounts" }).waitFor();
      expect((await fx.service.inbound.getAccount("support")).limit).toBe(20);

      // Delete: asks first; Cancel keeps it, confirming removes it.
      await page.getByRole("button", { name: "Delete support" }).click();
      await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
      expect(await row.count()).toBe(1);
      await page.getByRole("button", { name: "Delete support" }).click();
      expect(await page.getByRole("dialog").textContent()).toContain("4 message(s) stored");
      await page.getByRole("dialog").getByRole("button", { name: "Delete account" }).click();
      await page.getByText("No accounts yet").waitFor();
      expect(await fx.service.inbound.listAccounts()).toEqual([]);

      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it("says in plain words why a connection test failed", async () => {
    const [, box] = fx.boxes;
    await fx.service.inbound.addAccount({ name: "wrong-password", protocol: "imap", security: "none", host: "127.0.0.1", port: fx.dovecot.ports.imap, username: box.name, password: "not-the-password" });
    const { context, page } = await fx.newPage();
    try {
      await fx.signIn(page);
      // By keyboard: the actions are real buttons, the confirmation is a modal that Escape cancels.
      await page.getByRole("button", { name: "Test wrong-password" }).focus();
      await page.keyboard.press("Enter");
      await expect.poll(() => page.locator(".notice").textContent(), { timeout: 20_000 }).toContain("Sign-in failed: the server rejected the user name or password.");
      await page.getByRole("button", { name: "Delete wrong-password" }).focus();
      await page.keyboard.press("Enter");
      await page.getByRole("dialog").waitFor();
      expect(await page.evaluate("document.activeElement.textContent")).toBe("Cancel");
      await page.keyboard.press("Escape");
      await page.getByRole("dialog").waitFor({ state: "detached" });
      expect(await page.locator('tr[data-account="wrong-password"]').count()).toBe(1);
    } finally {
      await context.close();
      await fx.service.inbound.removeAccount("wrong-password");
    }
  });

  it("adds, tests and deletes a webhook, and replays a failed delivery", async () => {
    const [, box] = fx.boxes;
    let answer = 200;
    const received: string[] = [];
    const receiver: Server = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk: Buffer) => (body += chunk.toString()));
      request.on("end", () => {
        received.push(body);
        response.writeHead(answer).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const { context, page } = await fx.newPage();
    try {
      await fx.signIn(page);
      await page.getByRole("link", { name: "Webhooks" }).click();
      await page.getByRole("heading", { level: 1, name: "Webhooks" }).waitFor();
      await page.getByLabel("URL").fill("ftp://nope");
      await page.getByRole("button", { name: "Add webhook" }).click();
      await page.getByText(/^URL must/).waitFor();
      await page.getByLabel("URL").fill(hookUrl);
      await page.getByRole("button", { name: "Add webhook" }).click();
      await page.getByRole("cell", { name: hookUrl, exact: true }).waitFor();
      await page.getByRole("button", { name: `Test ${hookUrl}` }).click();
      await expect.poll(() => page.locator('.notice[role="status"]').textContent()).toContain("answered 200");

      // The target fails: the delivery of a new message is retried and can be replayed from the page.
      answer = 500;
      fx.dovecot.deliver(box.name, plainMessage("For the hook", "dave@example.com", "Deliver me."));
      await fx.service.inbound.addAccount({ name: "hooked", protocol: "imap", security: "none", host: "127.0.0.1", port: fx.dovecot.ports.imap, username: box.name, password: box.password });
      await fx.service.inbound.fetch("hooked");
      await page.getByRole("link", { name: "Deliveries" }).first().click();
      await page.getByLabel("Show").selectOption("failed");
      const replay = page.getByRole("button", { name: /^Replay message\.received/ });
      await expect
        .poll(async () => {
          await page.getByRole("button", { name: "Refresh" }).click();
          return replay.count();
        }, { timeout: 20_000 })
        .toBe(1);
      answer = 200;
      await replay.click();
      await expect.poll(() => page.locator('.notice[role="status"]').textContent()).toContain("queued again");
      await page.getByLabel("Show").selectOption("succeeded");
      await expect
        .poll(async () => {
          await page.getByRole("button", { name: "Refresh" }).click();
          return page.locator("tr[data-delivery]").filter({ hasText: "message.received" }).count();
        }, { timeout: 20_000 })
        .toBe(1);

      await page.getByRole("link", { name: "Webhooks" }).first().click();
      await page.getByRole("button", { name: `Delete ${hookUrl}` }).click();
      await page.getByRole("dialog").getByRole("button", { name: "Delete webhook" }).click();
      await page.getByText("No webhooks yet.").waitFor();
    } finally {
      await context.close();
      await new Promise((resolve) => receiver.close(resolve));
      await fx.service.inbound.removeAccount("hooked").catch(() => undefined);
    }
  });
});
