import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sanitizeHtml } from "../../src/mime/sanitize-html.js";
import { XSS_VECTORS } from "./xss-vectors.js";

const LAUNCH = {
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
};

// Defined in every document of the context, popups and frames included, so an
// execution anywhere is reported; cross-origin frames report by postMessage.
const PROBE = `
  window.__xss = (n) => window.__xssReport(Number(n));
  addEventListener("message", (e) => { const m = /^xss:(\\d+)$/.exec(String(e.data)); if (m) window.__xssReport(Number(m[1])); });
`;

const reports = new WeakMap<BrowserContext, Set<number>>();

function page(body: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"></head><body>${body}</body></html>`;
}

/**
 * Render the HTML, wait for load/error handlers, then click every link,
 * button, input and summary (each on a fresh render, so one navigation does
 * not hide the next) and wait again. Returns the vector numbers that ran.
 */
async function executions(context: BrowserContext, body: string): Promise<void> {
  const tab = await context.newPage();
  const render = async (): Promise<void> => {
    await tab.setContent(page(body), { waitUntil: "load", timeout: 10_000 }).catch(() => undefined);
    await tab.waitForTimeout(150);
  };
  await render();
  const count = await tab.locator("a, button, input, summary, area, [onclick], math, div").count();
  for (let i = 0; i < count; i++) {
    if (tab.url() !== "about:blank") await render();
    const target = tab.locator("a, button, input, summary, area, [onclick], math, div").nth(i);
    await target.click({ force: true, noWaitAfter: true, timeout: 1_000 }).catch(() => undefined);
    await tab.waitForTimeout(100);
    // Pop-ups opened by a click (tabs of other renders running beside this one are left alone).
    for (const other of context.pages()) if (other !== tab && other.opener && (await other.opener()) === tab) await other.waitForTimeout(100).then(() => other.close());
    if (tab.url() !== "about:blank" || tab.isClosed()) break;
  }
  await tab.waitForTimeout(300);
  await tab.close();
}

/** Render each body in its own tab, several at a time; returns every vector number that ran. */
async function executionsOf(context: BrowserContext, bodies: string[], parallel = 6): Promise<Set<number>> {
  const ran = new Set<number>();
  reports.set(context, ran);
  let next = 0;
  const worker = async () => {
    while (next < bodies.length) await executions(context, bodies[next++]);
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return ran;
}

describe("sanitizeHtml in a real browser", () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch(LAUNCH);
  });
  afterAll(async () => browser?.close());

  async function freshContext(): Promise<BrowserContext> {
    const context = await browser.newContext();
    await context.route("**/*", (route) => route.abort());
    await context.exposeBinding("__xssReport", (_source, n: number) => void reports.get(context)?.add(n));
    await context.addInitScript(PROBE);
    return context;
  }

  it("the harness sees the raw vectors run (so silence below means something)", async () => {
    const context = await freshContext();
    try {
      const ran = await executionsOf(context, XSS_VECTORS);
      // 36 of the 60 run raw in Chromium today; the rest are blocked by the browser itself.
      expect(ran.size).toBeGreaterThanOrEqual(30);
    } finally {
      await context.close();
    }
  }, 240_000);

  it(`runs none of ${XSS_VECTORS.length} script vectors after sanitizing, even when every link is clicked`, async () => {
    expect(XSS_VECTORS.length).toBeGreaterThanOrEqual(30);
    const context = await freshContext();
    try {
      // One vector per render, so one vector's broken markup can't shield another;
      // and all of them together, as one hostile message.
      const ran = await executionsOf(context, [...XSS_VECTORS.map((v) => sanitizeHtml(v)), sanitizeHtml(XSS_VECTORS.join("\n"))]);
      expect([...ran].sort((a, b) => a - b)).toEqual([]);
    } finally {
      await context.close();
    }
  }, 240_000);

  describe("put straight into another site's page, as a webhook receiver might", () => {
    const HOST = "https://host.example";
    // Each would request something from the page's own site (with its cookies) or from elsewhere without an absolute URL.
    const REQUEST_VECTORS = [
      '<img src="/logout" alt="i">',
      '<table background="/account/delete"><tr><td>t</td></tr></table>',
      '<a href="/account/delete">link</a>',
      '<div style=\'background:url("/api/x?a=)")\'>a</div>',
      '<div style="background:url(\'//evil.example/p.png?)\')">b</div>',
      '<div style=\'background-image:image-set("https://cdn.example/a.png" 1x, "/rel.png" 2x)\'>c</div>',
      '<div style=\'background-image:-webkit-image-set("https://cdn.example/a.png" 1x, "//evil.example/b.png" 2x)\'>d</div>',
    ];

    /** Every URL the page asks for, its links clicked, other than itself and absolute https://cdn.example/ ones. */
    async function requestsOf(body: string): Promise<string[]> {
      // Scale 2 so image-set() takes its 2x candidate.
      const context = await browser.newContext({ deviceScaleFactor: 2 });
      const requested: string[] = [];
      try {
        await context.route("**/*", async (route) => {
          const url = route.request().url();
          if (url === `${HOST}/page`) return route.fulfill({ contentType: "text/html", body: page(`<main>${body}</main>`) });
          if (!url.startsWith("https://cdn.example/") && !url.endsWith("/favicon.ico")) requested.push(url);
          return route.abort();
        });
        const tab = await context.newPage();
        await tab.goto(`${HOST}/page`, { waitUntil: "load" });
        for (const link of await tab.locator("a").all()) await link.click({ noWaitAfter: true, timeout: 1_000 }).catch(() => undefined);
        // A second for what comes late (a background image, a popup), or until the first request.
        const until = Date.now() + 1_000;
        while (requested.length === 0 && Date.now() < until) await tab.waitForTimeout(50);
      } finally {
        await context.close();
      }
      return requested;
    }

    it("the harness sees each raw vector ask the host page's site or another one", async () => {
      for (const vector of REQUEST_VECTORS) expect(await requestsOf(vector), vector).not.toEqual([]);
    });

    it("asks nothing of the host page's site, nor of a URL that isn't absolute http(s), after sanitizing", async () => {
      const leaks: string[] = [];
      for (const vector of REQUEST_VECTORS) leaks.push(...(await requestsOf(sanitizeHtml(vector))));
      expect(leaks).toEqual([]);
    });

    // Each would put something of the message over the host page's header, or grow to the window's size.
    const OVERLAY_VECTORS = [
      '<div style="transform:translateY(-120px);background:#fff;height:100px">Session expired: sign in again</div>',
      '<div style="translate:0 -120px;background:#fff;height:100px">Session expired</div>',
      '<div style="margin-top:-120px;background:#fff;height:100px">Session expired</div>',
      '<p style="text-indent:-2000px">Session expired</p>',
      '<p style="letter-spacing:-400px">Session expired</p>',
      '<div style="width:100vw;height:100vh;background:#fff">Session expired</div>',
      '<p><a href="https://evil.example/" style="opacity:0">Sign in</a></p>',
      '<div style="position:fixed;inset:0;background:#fff">Session expired</div>',
    ];

    /** What of the message shows outside its own box, covers the header, fills the window or is invisible. */
    async function escapes(tab: Page, body: string): Promise<string[]> {
      await tab.setContent(page(`<header style="height:100px;background:#eee">Host</header><main style="width:400px;margin:0 auto">${body}</main>`));
      return tab.evaluate(() => {
        const found: string[] = [];
        const header = document.querySelector("header")!;
        const main = document.querySelector("main")!;
        const box = main.getBoundingClientRect();
        const outside = (r: DOMRect) => r.width > 0 && r.height > 0 && (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1);
        for (const x of [10, 200, 400, 600]) for (const y of [10, 50, 90]) if (!header.contains(document.elementFromPoint(x, y))) found.push(`covers the header at ${x},${y}`);
        if (box.top < header.getBoundingClientRect().bottom - 1) found.push("moved over the header");
        if (box.height >= innerHeight / 2) found.push("fills the window");
        for (const element of main.querySelectorAll("*")) {
          if (outside(element.getBoundingClientRect())) found.push(`<${element.localName}> outside its box`);
          if (getComputedStyle(element).opacity !== "1") found.push(`<${element.localName}> transparent`);
        }
        const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT);
        // Character by character: a whole run's rectangle is not where negative letter-spacing draws it.
        for (let text = walker.nextNode(); text !== null; text = walker.nextNode()) {
          const range = document.createRange();
          for (let i = 0; i < (text.textContent ?? "").length; i++) {
            range.setStart(text, i);
            range.setEnd(text, i + 1);
            if (outside(range.getBoundingClientRect())) {
              found.push(`text "${text.textContent}" outside its box`);
              break;
            }
          }
        }
        return found;
      });
    }

    it("the harness sees each raw vector escape the message's box", async () => {
      const context = await freshContext();
      try {
        const tab = await context.newPage();
        for (const vector of OVERLAY_VECTORS) expect(await escapes(tab, vector), vector).not.toEqual([]);
      } finally {
        await context.close();
      }
    });

    it("keeps the message in its box, visible and the size of its content, after sanitizing", async () => {
      const context = await freshContext();
      try {
        const tab = await context.newPage();
        const found: string[] = [];
        for (const vector of OVERLAY_VECTORS) found.push(...(await escapes(tab, sanitizeHtml(vector))).map((x) => `${vector}: ${x}`));
        expect(found).toEqual([]);
      } finally {
        await context.close();
      }
    });
  });

  it("keeps a newsletter's table layout, inline styles and images", async () => {
    const newsletter = `
      <html><head><style>.x{color:red}</style></head><body style="margin:0">
      <center>
      <table id="outer" width="600" cellpadding="0" cellspacing="0" border="0" align="center" bgcolor="#f4f4f4" style="width:600px;border-collapse:collapse">
        <tr><td colspan="2" align="center" valign="top" style="padding:20px 0;background-color:#123456">
          <img src="https://cdn.example.com/logo.png" width="200" height="50" alt="Logo" style="display:block;border:0">
        </td></tr>
        <tr>
          <td width="300" valign="top" style="padding:10px;font-family:Arial,sans-serif;font-size:16px;color:#333333">
            <font face="Georgia" color="#990000" size="4">Big news</font>
            <p style="margin:0 0 10px 0;line-height:24px">Hello <b>reader</b>, read <a href="https://example.com/story" style="color:#0066cc">the story</a>.</p>
          </td>
          <td width="300" valign="top" style="padding:10px;background:url('https://cdn.example.com/bg.png') no-repeat">
            <img src="cid:hero@example.com" width="280" alt="Hero">
          </td>
        </tr>
      </table>
      </center></body></html>`;
    const clean = sanitizeHtml(newsletter);
    expect(clean).not.toContain("<style");
    const context = await freshContext();
    try {
      const tab = await context.newPage();
      await tab.setContent(page(clean), { waitUntil: "load" });
      const layout = await tab.evaluate(() => {
        const table = document.querySelector("table") as HTMLTableElement;
        const cells = [...document.querySelectorAll("td")] as HTMLTableCellElement[];
        const imgs = [...document.querySelectorAll("img")].map((i) => i.getAttribute("src"));
        const link = document.querySelector("a") as HTMLAnchorElement;
        const font = document.querySelector("font") as HTMLElement;
        return {
          tableWidth: Math.round(table.getBoundingClientRect().width),
          tableBg: table.getAttribute("bgcolor"),
          cellpadding: table.getAttribute("cellpadding"),
          cellCount: cells.length,
          colspan: cells[0].colSpan,
          firstCellBg: getComputedStyle(cells[0]).backgroundColor,
          secondCellWidth: Math.round(cells[1].getBoundingClientRect().width),
          secondCellFont: getComputedStyle(cells[1]).fontFamily,
          thirdCellBgImage: getComputedStyle(cells[2]).backgroundImage,
          imgs,
          linkColor: getComputedStyle(link).color,
          linkTarget: link.target,
          linkRel: link.rel,
          fontColor: getComputedStyle(font).color,
          centered: document.querySelector("center") !== null,
        };
      });
      expect(layout).toEqual({
        tableWidth: 600,
        tableBg: "#f4f4f4",
        cellpadding: "0",
        cellCount: 3,
        colspan: 2,
        firstCellBg: "rgb(18, 52, 86)",
        secondCellWidth: expect.closeTo(300, -1),
        secondCellFont: "Arial, sans-serif",
        thirdCellBgImage: 'url("https://cdn.example.com/bg.png")',
        imgs: ["https://cdn.example.com/logo.png", "cid:hero@example.com"],
        linkColor: "rgb(0, 102, 204)",
        linkTarget: "_blank",
        linkRel: "noopener noreferrer",
        fontColor: "rgb(153, 0, 0)",
        centered: true,
      });
    } finally {
      await context.close();
    }
  });
});
