import { describe, expect, it } from "vitest";
import type { DeliveryEvent } from "../../src/delivery/delivery-event.js";
import { buildWebhookBody } from "../../src/delivery/webhook-payload.js";
import { sanitizeHtml } from "../../src/mime/sanitize-html.js";
import type { MessageRecord } from "../../src/store/message-repository.js";

const EVENT: DeliveryEvent = { id: "event-1", type: "message.received", accountId: "account-1", createdAt: "2026-01-01T00:00:00.000Z", payload: {} };

function bodyOf(stored: { html?: string | null; text?: string | null }, bodyLimit: number, publicUrl?: string) {
  const message = {
    id: "message-1", accountId: "account-1", folder: "INBOX", uidValidity: "1", uid: 1, uidl: null, rawSha256: "0".repeat(64), size: 1,
    internalDate: null, flags: [], messageIdHeader: null, sentDate: null, subject: "s", from: [], to: [], status: "parsed", parseError: null,
    storedAt: "2026-01-01T00:00:00.000Z", processedAt: null, cc: [], bcc: [], replyTo: [], headers: [],
    textBody: stored.text ?? null, htmlBody: null, sanitizedHtml: stored.html ?? null,
  } as MessageRecord;
  const body = buildWebhookBody(EVENT, { id: "account-1", name: "a" }, { message, attachments: [] }, { bodyLimit, publicUrl });
  return body.message!;
}

const VOID = new Set(["img", "br", "hr", "col", "wbr"]);

/** Elements opened and not closed, in order; throws on a closing tag that closes nothing open. */
function unclosed(html: string): string[] {
  const open: string[] = [];
  for (const [, slash, name] of html.matchAll(/<(\/?)([a-z0-9]+)[^<>]*>/g)) {
    if (VOID.has(name)) continue;
    if (slash === "") open.push(name);
    else if (open.pop() !== name) throw new Error(`</${name}> closes nothing open in ${html}`);
  }
  return open;
}

const NEWSLETTER = sanitizeHtml(
  '<table width="600" bgcolor="#f4f4f4" style="border-collapse:collapse"><tr><td style="padding:10px;font-family:Arial, sans-serif">' +
    '<p>Hello &amp; welcome, <b>reader</b> — “quotes” 😀</p><img src="https://evil.example/?q=1&amp;r=2" alt="a &quot;pic&quot;">' +
    '<a href="https://example.com/story?a=1&amp;b=2" title="t">the <i>story</i></a></td>' +
    '<td background="https://cdn.example.com/bg.png" style="background:url(\'https://cdn.example.com/bg.png\') no-repeat"><ul><li>one</li><li>two</li></ul></td></tr></table>',
);

describe("buildWebhookBody", () => {
  it("never ends a cut HTML body inside a tag: a cut in an attribute value drops the tag", () => {
    const html = sanitizeHtml('<p>Hello</p><img src="https://evil.example/?q=1" alt="pic"><p>rest of the page</p>');
    const limit = html.indexOf("?") + 1; // right after `<img src="https://evil.example/?`
    const message = bodyOf({ html }, limit);
    expect(message.html).toBe("<p>Hello</p>");
    expect(message.truncated).toBe(true);
  });

  it("cuts HTML at any point to whole tags, every element closed, within the limit, and as safe as the sanitizer's output", () => {
    for (let limit = 1; limit < NEWSLETTER.length; limit++) {
      const html = bodyOf({ html: NEWSLETTER }, limit).html!;
      expect(html.length, `limit ${limit}`).toBeLessThanOrEqual(limit);
      expect(html, `limit ${limit}`).not.toMatch(/<[^>]*$/);
      expect(unclosed(html), `limit ${limit}: ${html}`).toEqual([]);
      expect(sanitizeHtml(html), `limit ${limit}`).toBe(html);
      // Every character kept is one of the original's text or markup (only closing tags are added).
      expect(NEWSLETTER.startsWith(html.replace(/(<\/[a-z0-9]+>)+$/, "")), `limit ${limit}: ${html}`).toBe(true);
    }
  });

  it("stays within the limit when the closing tags don't fit, keeping as much as does", () => {
    const html = sanitizeHtml(`${"<div>".repeat(20)}${"text ".repeat(100)}${"</div>".repeat(20)}`);
    const message = bodyOf({ html }, 400);
    expect(message.html).toBe(`${"<div>".repeat(20)}${"text ".repeat(36)}${"</div>".repeat(20)}`);
    expect(message.html).toHaveLength(400);
    const deep = sanitizeHtml(`${"<div>".repeat(200)}${"text ".repeat(100)}${"</div>".repeat(200)}`);
    const cut = bodyOf({ html: deep }, 1200).html!;
    expect(cut.length).toBeLessThanOrEqual(1200);
    expect(unclosed(cut)).toEqual([]);
  });

  it("doesn't cut an entity or a surrogate pair in two", () => {
    expect(bodyOf({ html: "a &amp; b" }, 4).html).toBe("a ");
    expect(bodyOf({ html: "<p>a &amp; b</p>" }, 14).html).toBe("<p>a &amp;</p>");
    expect(bodyOf({ html: "<p>a &amp; b</p>" }, 13).html).toBe("<p>a </p>");
    expect(bodyOf({ html: "<p>ab😀cd</p>" }, 10).html).toBe("<p>ab</p>");
    expect(bodyOf({ html: "ab😀cd" }, 3).html).toBe("ab");
    expect(bodyOf({ text: "ab😀cd" }, 3).text).toBe("ab");
    expect(bodyOf({ text: "ab😀cd" }, 4).text).toBe("ab😀");
  });

  it("makes inline-image links absolute with the public URL, whole or cut, so they don't resolve against the receiver's site", () => {
    const html = '<p>Logo <img src="/api/v1/attachments/att-1/content" alt="logo"> and more text after it</p>';
    expect(bodyOf({ html }, 10_000, "https://inbound.example.com/").html).toBe('<p>Logo <img src="https://inbound.example.com/api/v1/attachments/att-1/content" alt="logo"> and more text after it</p>');
    expect(bodyOf({ html }, 110, "https://inbound.example.com").html).toContain('src="https://inbound.example.com/api/v1/attachments/att-1/content"');
    // Without a public URL there is nothing to make them absolute with.
    expect(bodyOf({ html }, 10_000).html).toBe(html);
  });

  it("leaves bodies within the limit as they are", () => {
    const message = bodyOf({ html: NEWSLETTER, text: "hello" }, NEWSLETTER.length);
    expect(message).toMatchObject({ html: NEWSLETTER, text: "hello", truncated: false });
    expect(bodyOf({}, 10)).toMatchObject({ html: null, text: null, truncated: false });
  });
});
