import { describe, expect, it } from "vitest";
import { sanitizeHtml } from "../../src/mime/sanitize-html.js";

describe("sanitizeHtml", () => {
  it("forces links to a new tab without opener or referrer", () => {
    expect(sanitizeHtml('<a href="https://example.com/a" target="_self" rel="opener">x</a>')).toBe(
      '<a href="https://example.com/a" target="_blank" rel="noopener noreferrer">x</a>',
    );
    expect(sanitizeHtml('<a href="mailto:a@example.com">m</a><a href="tel:+123">t</a>')).toContain('href="mailto:a@example.com"');
    expect(sanitizeHtml('<a href="ftp://x/y">f</a>')).toBe('<a target="_blank" rel="noopener noreferrer">f</a>');
  });

  it("keeps image sources with cid:, https: and raster data: only", () => {
    expect(sanitizeHtml('<img src="cid:a@b">')).toBe('<img src="cid:a@b" />');
    expect(sanitizeHtml('<img src="https://x/y.png">')).toBe('<img src="https://x/y.png" />');
    expect(sanitizeHtml('<img src="data:image/png;base64,AAAA">')).toBe('<img src="data:image/png;base64,AAAA" />');
    expect(sanitizeHtml('<img src="data:image/svg+xml;base64,AAAA">')).toBe("<img />");
    expect(sanitizeHtml('<img src="data:text/html,<script>1</script>">')).toBe("<img />");
    expect(sanitizeHtml('<img src="//evil.example/x.png">')).toBe("<img />");
  });

  it("keeps table layout attributes", () => {
    const html = '<table width="600" border="0" cellpadding="2" cellspacing="0" bgcolor="#fff" align="center"><tr valign="top"><td colspan="2" rowspan="1" width="50%" height="10" valign="middle" bgcolor="#eee">x</td></tr></table>';
    expect(sanitizeHtml(html)).toBe(html);
  });

  it("filters dangerous CSS declarations and keeps the rest", () => {
    const out = sanitizeHtml(
      '<div style="color: red; width: expression(alert(1)); background: url(javascript:alert(1)); behavior: url(x.htc); -moz-binding: url(x.xml#y); position: fixed; padding: 4px">x</div>',
    );
    expect(out).toBe('<div style="color:red;padding:4px">x</div>');
    expect(sanitizeHtml('<p style="width: ex/**/pression(alert(1)); margin:0">x</p>')).toBe('<p style="margin:0">x</p>');
    expect(sanitizeHtml('<p style="width: \\65 xpression(alert(1)); margin:0">x</p>')).toBe('<p style="margin:0">x</p>');
    expect(sanitizeHtml('<p style="background-image: url(&quot;https://x/y.png&quot;)">x</p>')).toContain("https://x/y.png");
    expect(sanitizeHtml("<p style=\"background:url('http://tracker.example/a.gif'); color: blue\">x</p>")).toContain("tracker.example");
    expect(sanitizeHtml('<p style="background:url(data:text/html,x)">x</p>')).toBe("<p>x</p>");
  });

  it("drops style blocks, scripts, frames, forms, svg, math, meta, base and link with their content", () => {
    const out = sanitizeHtml(
      '<html><head><title>T</title><meta http-equiv="refresh" content="0"><base href="https://evil/"><link rel="stylesheet" href="x.css"><style>body{display:none}</style></head>' +
        "<body><script>x()</script><iframe>f</iframe><object>o</object><embed><form><input value=v><button>b</button></form><svg><text>s</text></svg><math><mi>m</mi></math><p>kept</p></body></html>",
    );
    expect(out).toBe("<p>kept</p>");
  });

  it("drops event handlers, ids and classes", () => {
    expect(sanitizeHtml('<p id="login" class="modal" onclick="x()" onmouseover="y()" title="t">x</p>')).toBe('<p title="t">x</p>');
  });

  it("keeps font, center and text formatting", () => {
    expect(sanitizeHtml('<center><font face="Arial" color="#333" size="2"><b>B</b><i>I</i><u>U</u><strike>S</strike></font></center>')).toBe(
      '<center><font face="Arial" color="#333" size="2"><b>B</b><i>I</i><u>U</u><strike>S</strike></font></center>',
    );
  });
});
