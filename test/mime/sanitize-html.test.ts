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

  // Each case below got through before the property allowlist and the URL checks.
  describe("checks every URL in a style, quoted ones with a \")\" in them and every image-set candidate too", () => {
    it.each([
      'background:url("/api/x?a=)")',
      "background:url('//evil.example/p.png?)')",
      'background-image:image-set("https://ok.example/a.png" 1x, "/rel.png" 2x)',
      'background-image:-webkit-image-set("https://ok.example/a.png" 1x, "//evil.example/b.png" 2x)',
      "background-image:url(https:logout)",
      'background-image:image("https://ok.example/a.png")',
      'background-image:src("https://ok.example/a.png")',
    ])("drops %s", (declaration) => {
      expect(sanitizeHtml(`<p style="${declaration.replace(/"/g, "&quot;")};color:red">x</p>`)).toBe('<p style="color:red">x</p>');
    });

    it("keeps absolute http(s), cid: and raster data: URLs in url() and image-set()", () => {
      const set = '<p style="background-image:image-set(&quot;https://ok.example/a.png&quot; 1x, url(cid:b@x) 2x);list-style-image:url(data:image/png;base64,AAAA)">x</p>';
      expect(sanitizeHtml(set)).toBe(set);
      expect(sanitizeHtml('<p style="background-image:url(https://ok.example/a.png), url(/rel.png)">x</p>')).toBe("<p>x</p>");
    });
  });

  it.each([
    'background:url("https://ok.example/a.png)',
    "background:url(https://ok.example/a.png",
    "background:url(https://ok.example/a b.png)",
    "background:url(https://ok.example/a\\).png)",
    "background:u\\72l(/x)",
    "background:url(\\2f\\2fevil.example/x.png)",
    "color:\\72 ed",
    "color:red)",
    "color:(red)",
    "color:red [;background:url(/x)]",
    "color:red}body{background:url(/x)",
    "font-family:Arial/**/,sans-serif",
    "width:calc(100% - (20px)",
    "width:expression(alert(1))",
  ])("drops a declaration it can't tokenise with certainty: %s", (style) => {
    expect(sanitizeHtml(`<p style="${style.replace(/"/g, "&quot;")}">x</p>`)).toBe("<p>x</p>");
  });

  it("keeps escaped non-ASCII characters, which can only be part of a name (CJK font names are written so)", () => {
    const html = '<p style="font-family:\\5FAE\\8F6F\\96C5\\9ED1, Arial">x</p>';
    expect(sanitizeHtml(html)).toBe(html);
  });

  it.each([
    "inset:0", "top:0", "left:-100px", "z-index:99999", "transform:translate(0,-500px)", "translate:0 -500px",
    "rotate:180deg", "scale:40", "margin-top:-500px", "margin:0 0 0 -9999px", "margin:calc(0px - 500px)", "text-indent:-9999px",
    "letter-spacing:-1000px", "word-spacing:-2em", "width:100vw", "height:100vh", "min-height:100dvh",
    "max-width:100vmax", "font-size:20vw", "opacity:0", "box-shadow:0 0 0 9999px rgba(0,0,0,.9)", "text-shadow:-500px -300px 0 red",
    "outline:9999px solid #000", "outline-offset:-50px", "border-image:url(https://ok.example/b.png) 30 / 1 / 500px",
    "filter:drop-shadow(0 0 2000px #000)", "clip-path:inset(0)", "cursor:url(https://ok.example/c.png),auto", "content:'x'",
    "zoom:50", "pointer-events:none", "will-change:transform",
  ])("drops CSS that moves or paints the message over the page around it: %s", (declaration) => {
    expect(sanitizeHtml(`<div style="${declaration};color:red">x</div>`)).toBe('<div style="color:red">x</div>');
  });

  it("keeps the CSS newsletters are made of", () => {
    const styles = [
      "color:#333333;background-color:#f4f4f4;background:#fff url(https://cdn.example.com/bg.png) no-repeat center top / cover",
      "background-image:linear-gradient(to right, #fff 0%, rgba(0,0,0,.5) 100%);background-repeat:repeat-x;background-position:-10px 0;background-size:100% auto",
      "font:bold 12px/1.5 'Helvetica Neue', Arial, sans-serif !important;font-family:-apple-system, \"Segoe UI\", Roboto;font-weight:700;font-style:italic",
      "text-align:center;text-decoration:none;text-transform:uppercase;line-height:24px;letter-spacing:-0.5px;word-spacing:2px;white-space:nowrap;vertical-align:top;vertical-align:-3px;direction:rtl",
      "border:1px solid #cccccc;border-top:0;border-radius:4px;border-collapse:collapse;border-spacing:0;padding:20px 0;padding-left:10px;margin:0 auto;margin-bottom:10px",
      "width:600px;max-width:100%;min-width:calc((480px - 100%) * 480);height:auto;display:inline-block;float:left;clear:both;box-sizing:border-box",
      "display:none;max-height:0;overflow:hidden;mso-hide:all;font-size:1px;line-height:1px;color:transparent;visibility:hidden",
      "mso-line-height-rule:exactly;mso-table-lspace:0pt;mso-text-raise:-5pt;-webkit-text-size-adjust:100%;-ms-text-size-adjust:100%;-ms-interpolation-mode:bicubic;outline:none",
      "list-style-type:disc;list-style-position:outside;table-layout:fixed;empty-cells:show;caption-side:top",
    ];
    for (const style of styles) {
      const html = `<table><tr><td style="${style.replace(/"/g, "&quot;")}">x</td></tr></table>`;
      expect(sanitizeHtml(html)).toBe(html);
    }
  });

  it.each([
    ['<img src="/logout" alt="a">', '<img alt="a" />'],
    ['<img src="logout">', "<img />"],
    ['<img src="https:logout">', "<img />"],
    ['<img src="?x=1">', "<img />"],
    ['<a href="/account/delete">d</a>', '<a target="_blank" rel="noopener noreferrer">d</a>'],
    ['<a href="#top">t</a>', '<a target="_blank" rel="noopener noreferrer">t</a>'],
    ['<table background="/bg.png"></table>', "<table></table>"],
    ['<blockquote cite="/quoted">q</blockquote>', "<blockquote>q</blockquote>"],
    ['<blockquote cite="mailto:a@example.com">q</blockquote>', "<blockquote>q</blockquote>"],
    ['<img src="\x01data:image/svg+xml;base64,PHN2Zz4=">', "<img />"],
    ['<img src="&#1;data:image/svg+xml;base64,PHN2Zz4=">', "<img />"],
    ['<img src=" \x7f data:image/svg+xml;base64,PHN2Zz4=">', "<img />"],
    ['<a href="ht\x01tps://x.example/">j</a>', '<a target="_blank" rel="noopener noreferrer">j</a>'],
  ])("keeps only absolute URLs with an allowed scheme, read as a browser reads them: %j", (html, clean) => {
    expect(sanitizeHtml(html)).toBe(clean);
  });

  it("drops protocol-relative URLs and scripts behind control characters", () => {
    expect(sanitizeHtml('<a href="//evil.example/">e</a>')).toBe('<a target="_blank" rel="noopener noreferrer">e</a>');
    expect(sanitizeHtml('<td background="//evil.example/bg.png">x</td>')).toBe("<td>x</td>");
    expect(sanitizeHtml('<a href="java\tscript:alert(1)">j</a>')).toBe('<a target="_blank" rel="noopener noreferrer">j</a>');
    expect(sanitizeHtml('<a href="\x00javascript:alert(1)">j</a>')).toBe('<a target="_blank" rel="noopener noreferrer">j</a>');
  });

  it("keeps absolute URLs and writes them as the browser reads them", () => {
    const kept = '<table background="https://x.example/bg.png"><tr><td background="cid:bg@x">' +
      '<a href="HTTPS://x.example/a" target="_blank" rel="noopener noreferrer">a</a><a href="mailto:a@example.com" target="_blank" rel="noopener noreferrer">m</a>' +
      '<img src="http://x.example/i.png" /><blockquote cite="https://x.example/q">q</blockquote></td></tr></table>';
    expect(sanitizeHtml(kept)).toBe(kept);
    expect(sanitizeHtml('<img src=" \x01https://x.example/a\n.png\t">')).toBe('<img src="https://x.example/a.png" />');
    expect(sanitizeHtml('<img src="\x02data:image/png;base64,AAAA">')).toBe('<img src="data:image/png;base64,AAAA" />');
  });

  it("keeps font, center and text formatting", () => {
    expect(sanitizeHtml('<center><font face="Arial" color="#333" size="2"><b>B</b><i>I</i><u>U</u><strike>S</strike></font></center>')).toBe(
      '<center><font face="Arial" color="#333" size="2"><b>B</b><i>I</i><u>U</u><strike>S</strike></font></center>',
    );
  });
});
