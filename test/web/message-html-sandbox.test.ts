import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gradientPng, openWebFixture, richMessage, type WebFixture } from "./web-fixture.js";

/*
 * Every vector tries four ways to be seen: the page's exposed `__xss`
 * (reachable only if the frame shared the page's origin), `postMessage` to
 * the page (works across origins, so a running script cannot hide), an
 * alert, and an image request to /xss-beacon (the frame's CSP allows 'self'
 * images, so a script could load one).
 */
const CALL = (name: string) =>
  `try{top.__xss('${name}')}catch(e){};try{parent.postMessage('xss:${name}','*')}catch(e){};try{new Image().src='/xss-beacon?${name}'}catch(e){};alert('${name}')`;

const VECTORS = [
  `<p>Survivor text stays.</p>`,
  `<p id="handler" onclick="${CALL("onclick")}" onmouseover="${CALL("onmouseover")}">Hover and click me</p>`,
  `<img src="x" onerror="${CALL("img-onerror")}" alt="broken">`,
  `<img src=x onerror=${CALL("img-onerror-unquoted").replaceAll("'", "&#39;")}>`,
  `<svg onload="${CALL("svg-onload")}"><circle r="5"></circle></svg>`,
  `<svg><script>${CALL("svg-script")}</script></svg>`,
  `<iframe srcdoc="<script>${CALL("srcdoc")}</script>"></iframe>`,
  `<iframe src="javascript:${CALL("iframe-src")}"></iframe>`,
  `<a id="js-link" href="javascript:${CALL("a-href")}">Plain javascript link</a>`,
  `<a id="js-link-obfuscated" href="jav&#x09;ascript:${CALL("a-href-obfuscated")}">Obfuscated link</a>`,
  `<a id="data-link" href="data:text/html,<script>${CALL("data-link")}</script>">Data link</a>`,
  `<form action="javascript:${CALL("form-action")}"><button id="form-button">Submit form</button></form>`,
  `<meta http-equiv="refresh" content="0;url=javascript:${CALL("meta-refresh")}">`,
  `<script>${CALL("script")}</script>`,
  `<body onload="${CALL("body-onload")}">`,
  `<details open ontoggle="${CALL("details-ontoggle")}"><summary>Details</summary>x</details>`,
  `<object data="javascript:${CALL("object")}"></object><embed src="javascript:${CALL("embed")}">`,
  `<div style="background:url(javascript:${CALL("css-url")})">styled</div>`,
  `<base href="javascript:${CALL("base")}//">`,
  // Last: a parser-confusion (mXSS) vector swallows whatever follows it.
  `<math><mtext><table><mglyph><style><img src=x onerror="${CALL("mxss")}">`,
].join("\n");

describe("a message's HTML body in the admin page", () => {
  let fx: WebFixture;
  beforeAll(async () => {
    fx = await openWebFixture(1);
    const [box] = fx.boxes;
    fx.dovecot.deliver(box.name, richMessage({ subject: "Script vectors", csv: Buffer.from("a,b\r\n"), png: gradientPng(8), html: `<html><head><title>t</title></head><body>${VECTORS}</body></html>` }));
    await fx.service.inbound.addAccount({ name: "vectors", protocol: "imap", security: "none", host: "127.0.0.1", port: fx.dovecot.ports.imap, username: box.name, password: box.password });
    await fx.service.inbound.fetch("vectors");
  });
  afterAll(async () => {
    await fx?.close();
  });

  it("runs no script from event handlers, javascript: URLs, <svg onload>, <iframe srcdoc> and friends, even when clicked", async () => {
    const { context, page } = await fx.newPage();
    const calls: string[] = [];
    try {
      await page.exposeFunction("__xss", (name: string) => calls.push(`binding:${name}`));
      // Playwright's init script is injected by the browser driver, not inline: the page's CSP does not apply to it.
      await page.addInitScript(() => {
        addEventListener("message", (event) => {
          if (String(event.data).startsWith("xss:")) (globalThis as unknown as { __xss(name: string): void }).__xss(`postMessage:${event.data}`);
        });
      });
      page.on("dialog", (dialog) => {
        calls.push(`dialog:${dialog.message()}`);
        void dialog.dismiss();
      });
      context.on("request", (request) => {
        if (request.url().includes("xss-beacon")) calls.push(`beacon:${request.url()}`);
      });
      const popups: string[] = [];
      context.on("page", (popup) => {
        popups.push(popup.url());
        void popup.close();
      });

      await fx.signIn(page);
      const [message] = (await fx.service.inbound.listMessages({ account: "vectors" })).items;
      await page.goto(`/messages/${message.id}`);
      await page.getByRole("heading", { level: 1, name: "Script vectors" }).waitFor();
      const frameElement = page.locator("iframe.html-body");
      const sandbox = await frameElement.getAttribute("sandbox");
      expect(sandbox).not.toContain("allow-scripts");
      expect(sandbox).not.toContain("allow-same-origin");
      const body = page.frameLocator("iframe.html-body");
      await body.getByText("Survivor text stays.").waitFor();

      // Interact with whatever survived: hover, click, submit, follow links.
      const handler = body.getByText("Hover and click me");
      if (await handler.count()) {
        await handler.hover();
        await handler.click();
      }
      for (const name of ["Plain javascript link", "Obfuscated link", "Data link", "Submit form", "Details"]) {
        const target = body.getByText(name, { exact: true });
        if ((await target.count()) === 1) await target.click({ timeout: 2_000 }).catch(() => undefined);
      }
      // The page itself can still run its own script and receive messages: the detector works.
      await page.evaluate("window.postMessage('xss:self-check', '*')");
      await expect.poll(() => calls).toContain("binding:postMessage:xss:self-check");
      // Give meta refresh, lazy frames and timers their chance.
      await page.waitForTimeout(1_000);

      expect(calls.filter((c) => !c.includes("self-check"))).toEqual([]);
      expect(popups.filter((url) => url.startsWith("javascript:") || url.startsWith("data:"))).toEqual([]);
      // The page is still where it was.
      expect(page.url()).toBe(`${fx.service.url}/messages/${message.id}`);
    } finally {
      await context.close();
    }
  });
});
